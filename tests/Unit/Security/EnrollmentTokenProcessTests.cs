using JP1Dist.Contracts;
using JP1Dist.Tests.Agent;
using JP1Dist.Tests.Host;
using Microsoft.EntityFrameworkCore;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Security;

/// <summary>
/// Tokens that no longer admit anyone, presented by real `jp1dist agent --once` processes: an expired token, a token
/// that has admitted its last host, and a removed token. Each run ends non-zero with a message naming why, and nothing
/// is registered or counted.
/// </summary>
public sealed class EnrollmentTokenProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private async Task<(int ExitCode, string Output)> EnrollAsync(string name, string token)
    {
        using var agent = NodeProcess.Start(null,
            "agent", "--once", "--manager", _h.Url, "--token", token, "--name", name, "--state", Path.Combine(_h.Folder.Root, "state-" + name));
        var exitCode = await agent.WaitAsync(TimeSpan.FromSeconds(90));
        var text = await agent.OutputAsync();
        output.WriteLine($"--- agent {name} (exit {exitCode})\n{text}");
        return (exitCode, text);
    }

    private async Task<DistEnrollmentToken> TokenAsync(int id) =>
        (await _h.Folder.Engine.Hosts.ListEnrollmentTokensAsync()).Single(t => t.Id == id);

    private async Task AssertRefusedAsync(string name, string token, string reason)
    {
        var (exitCode, text) = await EnrollAsync(name, token);
        Assert.NotEqual(0, exitCode);
        Assert.Contains(reason, text, StringComparison.Ordinal);
        Assert.Empty(await _h.Folder.Engine.Hosts.ListAsync(name));
        Assert.False(File.Exists(Path.Combine(_h.Folder.Root, "state-" + name, "agent.json")), "a refused agent saved an identity");
    }

    [Fact]
    public async Task An_expired_token_admits_nobody()
    {
        var token = await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("soon gone", ExpiresIn: TimeSpan.FromHours(1)));
        // Its hour has passed (the row is moved back rather than waiting).
        await using (var db = _h.Folder.Engine.Database.CreateContext())
        {
            await db.EnrollmentTokens.Where(t => t.Id == token.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.ExpiresAt, DateTime.UtcNow.AddMinutes(-1)));
        }

        await AssertRefusedAsync("pc-late", token.Token!, "The enrollment token expired at");

        var after = await TokenAsync(token.Id);
        Assert.Equal(("Expired", 0), (after.Status, after.UseCount));
    }

    [Fact]
    public async Task A_used_up_token_admits_nobody_more_and_the_host_it_admitted_keeps_working()
    {
        var token = await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("one computer", MaxUses: 1));
        Assert.Equal(0, (await EnrollAsync("pc-first", token.Token!)).ExitCode);

        await AssertRefusedAsync("pc-second", token.Token!, "The enrollment token has admitted its 1 registration(s)");

        var after = await TokenAsync(token.Id);
        Assert.Equal(("UsedUp", 1), (after.Status, after.UseCount));
        // The host it admitted does not need the token again: it runs on its credential.
        await _h.PackageAsync("App");
        await _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["pc-first"]));
        await _h.Distribution.DispatchAsync((await _h.Folder.Engine.Jobs.StartAsync("J")).ExecutionId, default);
        Assert.Equal(0, (await EnrollAsync("pc-first", token.Token!)).ExitCode);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);
    }

    [Fact]
    public async Task A_removed_token_admits_nobody()
    {
        var token = await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("withdrawn"));
        await _h.Folder.Engine.Hosts.RemoveEnrollmentTokenAsync(token.Id);

        await AssertRefusedAsync("pc-removed", token.Token!, "The enrollment token is not valid (unknown, or removed)");

        Assert.DoesNotContain(await _h.Folder.Engine.Hosts.ListEnrollmentTokensAsync(), t => t.Id == token.Id);
    }
}
