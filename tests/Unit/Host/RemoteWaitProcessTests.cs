using JP1Dist.Client;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Wait-DistJob's long poll through a real manager process's admin API: answered at once without a version, answered by a
/// change made in another process (its nudge) and by one made through the API itself, well before the wait's 30 s bound,
/// and a waiting call ends at once when canceled (Ctrl+C).
/// </summary>
public sealed class RemoteWaitProcessTests : IAsyncLifetime, IDisposable
{
    private ManagerProcess _manager = null!;
    private RemoteServices _remote = null!;

    public async Task InitializeAsync()
    {
        _manager = await ManagerProcess.StartAsync([]);
        var engine = _manager.Engine;
        var package = Path.Combine(_manager.Root, "pkg");
        Directory.CreateDirectory(package);
        await File.WriteAllTextAsync(Path.Combine(package, "setup.sh"), "exit 0");
        foreach (var name in new[] { "pc-a", "pc-b" })
        {
            var token = await engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("wait test"));
            await engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, name, "Linux", "6.1", "X64", ["10.0.0.1"], "00-11-22-33-44-55", "1.0"));
        }
        await engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", package, "setup.sh"));
        await engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["pc-a", "pc-b"]));
        await engine.Jobs.StartAsync("Deploy");
        // The manager dispatches the execution (no agent runs, so the targets stay Queued).
        await Eventually.ForAsync(async () => (await engine.Jobs.GetStatusAsync(new JobStatusQuery("Deploy"))).All(s => s.Status == TargetStatus.Queued) ? "" : null,
            "the manager dispatches the job", _manager.Node);
        var key = (await engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("operator", DistRole.Operator))).Key!;
        _remote = new RemoteServices(new AdminConnection(new Uri(_manager.Url), key, null));
    }

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    public void Dispose() => _remote?.Dispose();

    /// <summary>A bound on a hang, below the 30 s after which the manager would answer without any change.</summary>
    private static readonly TimeSpan BelowTheBound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_wait_is_answered_by_changes_made_elsewhere_and_through_the_API_and_stops_at_once_when_canceled()
    {
        var first = await _remote.Jobs.WaitForStatusChangeAsync(["Deploy"], null, DistJobStatusChange.MaxWait);
        Assert.All(first.Jobs.Single(), s => Assert.Equal(TargetStatus.Queued, s.Status));

        // Another process (this test's engine, as a cmdlet on the manager's computer) suspends a target and nudges the manager.
        var wait = _remote.Jobs.WaitForStatusChangeAsync(["Deploy"], first.Version, DistJobStatusChange.MaxWait);
        await _manager.Engine.Jobs.ControlAsync("Deploy", ["pc-b"], JobControlAction.Suspend);
        var suspended = await wait.WaitAsync(BelowTheBound);
        Assert.NotEqual(first.Version, suspended.Version);
        Assert.Equal(TargetStatus.Suspended, suspended.Jobs.Single().Single(s => s.HostName == "pc-b").Status);

        // A change through the admin API itself.
        wait = _remote.Jobs.WaitForStatusChangeAsync(["Deploy"], suspended.Version, DistJobStatusChange.MaxWait);
        await _remote.Jobs.ControlAsync("Deploy", ["pc-b"], JobControlAction.Resume);
        var resumed = await wait.WaitAsync(BelowTheBound);
        Assert.Equal(TargetStatus.Queued, resumed.Jobs.Single().Single(s => s.HostName == "pc-b").Status);

        using var stop = new CancellationTokenSource();
        var canceled = _remote.Jobs.WaitForStatusChangeAsync(["Deploy"], resumed.Version, DistJobStatusChange.MaxWait, stop.Token);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled.WaitAsync(BelowTheBound));

        var refused = await Assert.ThrowsAsync<DistException>(() => _remote.Jobs.WaitForStatusChangeAsync(["No such job"], null, TimeSpan.Zero));
        Assert.Equal(("JobNotFound", DistErrorKind.NotFound), (refused.ErrorId, refused.Kind));
    }
}
