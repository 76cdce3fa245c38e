using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A real `jp1dist manager` process killed (SIGKILL) at several instants around the dispatch of a large execution:
/// before it scheduled the execution, while its trigger waited, in the middle of queuing the targets, and after. Started
/// again on the same data folder, it finishes every dispatch, and every target is queued exactly once (one dispatch
/// queued it: one QueuedAt for the execution).
/// </summary>
public sealed class DispatchRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private const int Hosts = 2000;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-dispatch-" + Guid.NewGuid().ToString("N")[..8]);
    private NodeProcess? _manager;

    private string Home => Path.Combine(_root, "home");

    private async Task<DistEngine> StartManagerAsync(DistEngine engine)
    {
        _manager?.Dispose();
        _manager = NodeProcess.Start(null, "manager", "--listen", "http://127.0.0.1:0", "--home", Home);
        var process = _manager;
        await Eventually.ForAsync(async () => (await engine.Managers.ListAsync()).Any(m => m.ProcessId == process.Process.Id && m.IsAlive), "the manager announced itself", process);
        return engine;
    }

    private void Kill()
    {
        _manager!.Process.Kill(entireProcessTree: true);
        _manager.Process.WaitForExit();
        output.WriteLine($"killed the manager (exit {_manager.Process.ExitCode})");
    }

    [Fact]
    public async Task A_manager_killed_at_any_instant_of_a_dispatch_finishes_it_after_a_restart_queuing_each_target_once()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var engine = TestDatabase.Engine(Home);
        var token = (await engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("dispatch test"))).Token!;
        var names = Enumerable.Range(0, Hosts).Select(i => $"pc-{i:0000}").ToList();
        foreach (var name in names)
        {
            await engine.Hosts.RegisterAsync(new RegisterRequest(token, name, "Linux", "6.1", "X64", ["127.0.0.1"], null, "1.0"));
        }
        var package = Path.Combine(_root, "package");
        Directory.CreateDirectory(package);
        File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\nexit 0\n");
        await engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", package, "install.sh", []));
        await StartManagerAsync(engine);
        output.WriteLine($"{Hosts} hosts registered and the manager started in {clock.Elapsed.TotalSeconds:0.0} s");

        // Kill points, from the moment the execution is recorded: before the manager sees it, around its trigger, during
        // the queuing of the targets (one transaction over 2,000 rows), and after.
        var killAfter = new[] { 0, 30, 100, 200, 350, 600, 1000 };
        for (var i = 0; i < killAfter.Length; i++)
        {
            var job = $"Wave {i}";
            await engine.Jobs.CreateAsync(new NewJobRequest(job, "App", null, names));
            await engine.Jobs.StartAsync(job);
            await Task.Delay(killAfter[i]);
            Kill();
            await StartManagerAsync(engine);
            output.WriteLine($"{job}: killed after {killAfter[i]} ms and started again at {clock.Elapsed.TotalSeconds:0.0} s");
        }

        await using var db = engine.Database.CreateContext();
        foreach (var i in Enumerable.Range(0, killAfter.Length))
        {
            var job = $"Wave {i}";
            var jobId = await db.Jobs.Where(j => j.Name == job).Select(j => j.Id).SingleAsync();
            await Eventually.ForAsync(async () => await db.JobExecutions.AsNoTracking().AnyAsync(x => x.JobId == jobId && x.DispatchedAt != null), $"{job} dispatched", _manager);
            var targets = await db.Targets.AsNoTracking().Where(t => t.JobId == jobId).Select(t => new { t.Status, t.QueuedAt }).ToListAsync();
            output.WriteLine($"{job} (killed after {killAfter[i]} ms): {targets.Count(t => t.Status == TargetStatus.Queued)} queued, at {clock.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(Hosts, targets.Count);
            Assert.All(targets, t => Assert.Equal(TargetStatus.Queued, t.Status));
            Assert.Single(targets.Select(t => t.QueuedAt).Distinct());
        }
    }

    public void Dispose()
    {
        if (_manager is not null)
        {
            output.WriteLine(_manager.StopAsync().GetAwaiter().GetResult());
            _manager.Dispose();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
