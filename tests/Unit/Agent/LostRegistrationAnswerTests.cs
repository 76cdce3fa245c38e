using JP1Dist.Agent;
using JP1Dist.Contracts;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// A registration the manager admitted but whose answer never reached the agent (the connection cut after the manager's
/// commit: the answer timed out on a loaded manager, or the manager was killed; found by bench/Soak): the agent asks again
/// and is answered as the host it became. Before, the manager refused the repeat as HostNameTaken (the name now held a
/// credential the agent never received) and the agent stopped for good with exit code 4.
/// </summary>
public sealed class LostRegistrationAnswerTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private string State(string name) => Path.Combine(_h.Folder.Root, "agent-" + name);

    [Fact]
    public async Task An_agent_whose_registration_answer_was_lost_registers_as_the_host_it_became_and_takes_work()
    {
        var handler = _h.Handler();
        handler.LoseRegisterAnswers = 1;
        using var agent = await _h.AgentAsync("pc-lost", handler);

        await agent.RunOnceAsync(default);

        await AssertRegisteredOnceAsync("pc-lost");
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-lost"]));
        await agent.RunOnceAsync(default);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);
        Assert.Equal(1, _h.InstallCount());
    }

    [Fact]
    public async Task An_agent_stopped_while_its_registration_answer_was_on_the_way_registers_as_that_host_at_its_next_start()
    {
        using var killed = new CancellationTokenSource();
        var first = _h.Handler();
        first.LoseRegisterAnswers = 1;
        first.LoseRegisterAnswerBy = () =>
        {
            killed.Cancel(); // the agent's process ends while the manager commits
            return new OperationCanceledException(killed.Token);
        };
        using (var agent = await _h.AgentAsync("pc-killed", first))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => agent.RunOnceAsync(killed.Token));
        }
        Assert.Single(await _h.Folder.Engine.Hosts.ListAsync("pc-killed"));
        Assert.Null(new AgentStateStore(State("pc-killed")).LoadIdentity());

        using (var restarted = await _h.AgentAsync("pc-killed", _h.Handler()))
        {
            await restarted.RunOnceAsync(default);
        }
        await AssertRegisteredOnceAsync("pc-killed");
    }

    /// <summary>One host of that name, and the identity the agent saved is its credential.</summary>
    private async Task AssertRegisteredOnceAsync(string name)
    {
        var host = Assert.Single(await _h.Folder.Engine.Hosts.ListAsync(name));
        var identity = new AgentStateStore(State(name)).LoadIdentity();
        Assert.NotNull(identity);
        Assert.Equal(host.Id, identity.HostId);
        Assert.Equal(host.Id, await _h.Folder.Engine.Hosts.AuthenticateAsync(identity.HostId, identity.Credential));
    }
}
