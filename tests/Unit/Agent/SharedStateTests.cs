using JP1Dist.Agent;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// Two runs of the agent on one state folder (the service and a `--once` run from a startup script): when one registers
/// again, the other, refused with the credential it read earlier, takes the newer one from the state folder instead of
/// registering once more (which the manager would refuse, or which would lock the first run out in turn).
/// </summary>
public sealed class SharedStateTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task A_run_refused_with_a_stale_credential_takes_the_newer_one_from_the_state_folder()
    {
        using var service = await _h.AgentAsync("pc-1", _h.Handler());
        await service.RunOnceAsync(default);
        using var once = await _h.AgentAsync("pc-1", _h.Handler());
        await once.RunOnceAsync(default); // reads the same identity
        var store = new AgentStateStore(Path.Combine(_h.Folder.Root, "agent-pc-1"));
        var first = store.LoadIdentity()!;

        // The manager forgets the host; the service is refused, registers again and saves a new identity. (A running
        // manager checks remembered credentials again when one is revoked: another host's revocation makes it look now.)
        await _h.Folder.Engine.Hosts.RemoveAsync("pc-1", force: true);
        using (var other = await _h.AgentAsync("pc-other", _h.Handler()))
        {
            await other.RunOnceAsync(default);
        }
        await _h.Folder.Engine.Hosts.RemoveAsync("pc-other", force: true, revoke: true);
        await _h.Folder.Engine.Managers.NudgeAsync();
        await service.RunOnceAsync(default);
        var second = store.LoadIdentity()!;
        Assert.NotEqual(first.Credential, second.Credential);

        // The other run, still holding the first credential, is refused and takes the second from the file.
        await once.RunOnceAsync(default);
        Assert.Equal(second, store.LoadIdentity());
        Assert.Equal(second.HostId, (await _h.Folder.Engine.Hosts.ListAsync("pc-1")).Single().Id);
        Assert.Equal(second.HostId, await _h.Folder.Engine.Hosts.AuthenticateAsync(second.HostId, second.Credential));

        // And the service keeps working with it.
        await service.RunOnceAsync(default);
        Assert.Equal(second, store.LoadIdentity());
    }
}
