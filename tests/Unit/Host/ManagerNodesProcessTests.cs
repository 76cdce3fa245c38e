using System.Diagnostics;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Server.Manager;
using JP1Dist.Tests.Pester;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Several manager nodes on one PostgreSQL database (a throw-away server, <see cref="PostgresServer"/>) and one shared data
/// folder: their signals reach each other's polls, and a node killed with SIGKILL in the middle of a distribution to many
/// real agents leaves every target to the other node, each installed once, no result lost. Skipped, saying why, only
/// where PostgreSQL cannot be started.
/// </summary>
public sealed class ManagerNodesProcessTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-nodes-" + Guid.NewGuid().ToString("N")[..8]);
    private DatabaseSettings? _database;

    private string Home => Path.Combine(_root, "home");

    /// <summary>A fresh database on the tests' PostgreSQL server, recorded in the shared data folder; a skip when there is no server.</summary>
    private DistEngine NewEngineOnPostgres()
    {
        try
        {
            _database = TestDatabase.NewPostgresDatabase();
        }
        catch (InvalidOperationException e)
        {
            throw new SkipException($"PostgreSQL cannot be started on this computer, so several manager nodes cannot be tested: {e.Message}");
        }
        _database.RecordIn(new DataFolder(Home));
        return new DistEngine(new DataFolder(Home));
    }

    [SkippableTheory]
    [InlineData(450)]
    public async Task A_signal_made_on_one_node_wakes_the_polls_waiting_on_another(int hostCount)
    {
        var engineA = NewEngineOnPostgres();
        // The other node: another process in production; here another engine on the same database, with its own signals.
        var engineB = new DistEngine(new DataFolder(Path.Combine(_root, "home-b")), _database);
        using var peerA = new PeerSignals(engineA, NullLogger<PeerSignals>.Instance);
        using var peerB = new PeerSignals(engineB, NullLogger<PeerSignals>.Instance);
        using var stop = new CancellationTokenSource();
        await peerA.StartAsync(stop.Token);
        await peerB.StartAsync(stop.Token);
        try
        {
            await Bounded(Task.WhenAll(peerA.Listening, peerB.Listening), "both nodes listen");

            // More hosts than one notification carries: every poll waiting on B for one of them is woken.
            var hosts = Enumerable.Range(0, hostCount).Select(_ => Guid.NewGuid()).ToList();
            var waits = hosts.Select(h => engineB.Signals.WaitAsync(h, Timeout.InfiniteTimeSpan, stop.Token)).ToList();
            var bystander = engineB.Signals.WaitAsync(Guid.NewGuid(), Timeout.InfiniteTimeSpan, stop.Token);
            var statusWait = engineB.TargetChanges.Next;
            var clock = Stopwatch.StartNew();
            engineA.Signals.Notify(hosts);
            engineA.TargetChanges.Notify();
            await Bounded(Task.WhenAll(waits), $"the {hostCount} polls on the other node are woken");
            output.WriteLine($"{hostCount} polls on the other node woken {clock.Elapsed.TotalMilliseconds:0.0} ms after the signal");
            // One poll, as a dispatch to one host wakes it.
            var one = Guid.NewGuid();
            var single = engineB.Signals.WaitAsync(one, Timeout.InfiniteTimeSpan, stop.Token);
            clock.Restart();
            engineA.Signals.Notify([one]);
            await Bounded(single, "one poll on the other node is woken");
            output.WriteLine($"one poll on the other node woken {clock.Elapsed.TotalMilliseconds:0.0} ms after the signal");
            await Bounded(statusWait, "a wait on job status on the other node looks again");
            Assert.False(bystander.IsCompleted, "a poll of a host nobody named is not woken");

            // A nudge's "every poll looks again" crosses too.
            engineA.Signals.NotifyAll();
            await Bounded(bystander, "every poll on the other node looks again after a nudge");
            output.WriteLine($"node B received {peerB.Received} notification(s); node A {peerA.Received} (its own are not counted)");
            Assert.Equal(0, peerA.Received);
        }
        finally
        {
            await stop.CancelAsync();
            await peerA.StopAsync(CancellationToken.None);
            await peerB.StopAsync(CancellationToken.None);
        }
    }

    [SkippableTheory]
    [InlineData(20)]
    public async Task A_node_killed_mid_distribution_leaves_every_target_to_the_other_each_installed_once(int agentCount)
    {
        var engine = NewEngineOnPostgres();
        var nodes = new List<NodeProcess>();
        var agents = new List<NodeProcess>();
        try
        {
            // Two nodes on one data folder (keys, certificate, content store) and one database.
            var first = NodeProcess.Start(null, "manager", "--listen", "https://127.0.0.1:0", "--home", Home);
            nodes.Add(first);
            var (urlA, pinA) = await AnnouncedAsync(engine, first);
            var second = NodeProcess.Start(null, "manager", "--listen", "https://127.0.0.1:0", "--home", Home);
            nodes.Add(second);
            var (urlB, pinB) = await AnnouncedAsync(engine, second);
            Assert.Equal(pinA, pinB);
            output.WriteLine($"node A {urlA} (process {first.Process.Id}), node B {urlB} (process {second.Process.Id}), pin {pinA}");

            // Half the agents prefer A, half B; each lists both. One token: the pin both nodes present, the one signing key.
            var token = (await engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("nodes test"))).Token!;
            var names = Enumerable.Range(1, agentCount).Select(i => $"pc-node-{i:00}").ToList();
            var onA = names.Where((_, i) => i % 2 == 0).ToHashSet();
            foreach (var name in names)
            {
                var urls = onA.Contains(name) ? $"{urlA},{urlB}" : $"{urlB},{urlA}";
                agents.Add(NodeProcess.Start(null, "agent", "--manager", urls, "--token", token, "--name", name, "--state", Path.Combine(_root, "agent-" + name)));
            }
            await Eventually.ForAsync(async () => (await engine.Hosts.ListAsync()).Count == agentCount, $"the {agentCount} agents registered", agents[0], TimeSpan.FromSeconds(180));

            // 4 MiB in 64 KiB segments at 256 KiB/s: each transfer takes about 16 s, long enough to be cut in the middle.
            var log = Path.Combine(_root, "installed.log");
            var package = Path.Combine(_root, "package");
            Directory.CreateDirectory(package);
            File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME\" >> \"$1\"\n");
            var payload = new byte[4 * 1024 * 1024];
            new Random(17).NextBytes(payload);
            File.WriteAllBytes(Path.Combine(package, "payload.bin"), payload);
            await engine.Packages.CreateAsync(new NewPackageRequest("NodesApp", "1.0", package, "install.sh", [log], SegmentSize: 64 * 1024));
            await engine.Jobs.CreateAsync(new NewJobRequest("Nodes install", "NodesApp", null, names, BandwidthLimitKBps: 256));
            var execution = await engine.Jobs.StartAsync("Nodes install");

            var before = await Eventually.ForAsync(async () =>
            {
                var status = await engine.Jobs.GetStatusAsync(new JobStatusQuery("Nodes install"));
                return status.Count == agentCount && status.All(s => s is { Status: TargetStatus.Transferring, SegmentsTransferred: > 2 }) ? status : null;
            }, "every agent transferring", second, TimeSpan.FromSeconds(180));
            var started = before.Where(s => s.StartedAt is not null && s.QueuedAt is not null).Select(s => (s.HostName, Delay: s.StartedAt!.Value - s.QueuedAt!.Value)).ToList();
            output.WriteLine($"from queued to started: node A's agents at most {started.Where(s => onA.Contains(s.HostName)).Max(s => s.Delay).TotalMilliseconds:0} ms, "
                + $"node B's at most {started.Where(s => !onA.Contains(s.HostName)).Max(s => s.Delay).TotalMilliseconds:0} ms");

            // SIGKILL: no sign-off, no flush, connections cut.
            var atKill = before.ToDictionary(s => s.HostName, s => s.SegmentsTransferred);
            var clock = Stopwatch.StartNew();
            first.Process.Kill();
            await first.Process.WaitForExitAsync();
            output.WriteLine($"killed node A with SIGKILL; A's agents were at {string.Join(", ", onA.Order().Select(n => $"{n} {atKill[n]}"))} segments");

            // When each of A's agents moved on: its transfer goes further (or ends) through B.
            var resumed = new Dictionary<string, TimeSpan>();
            var final = await Eventually.ForAsync(async () =>
            {
                var status = await engine.Jobs.GetStatusAsync(new JobStatusQuery("Nodes install"));
                foreach (var s in status.Where(s => onA.Contains(s.HostName) && !resumed.ContainsKey(s.HostName) && (s.SegmentsTransferred > atKill[s.HostName] || s.IsFinal)))
                {
                    resumed[s.HostName] = clock.Elapsed;
                }
                return status.All(s => s.IsFinal) ? status : null;
            }, "every target final after node A died", second, TimeSpan.FromSeconds(300));
            output.WriteLine($"every target final {clock.Elapsed.TotalSeconds:0.0} s after the kill; A's agents went on through B within "
                + $"{resumed.Values.Min().TotalSeconds:0.0}–{resumed.Values.Max().TotalSeconds:0.0} s");

            foreach (var target in final)
            {
                Assert.True(target.Status == TargetStatus.Succeeded, $"{target.HostName}: {target.Status} {target.Message}");
                Assert.Equal(0, target.ExitCode);
                Assert.Equal(target.TotalBytes, target.BytesTransferred);
                Assert.NotNull(target.CompletedAt);
            }
            // Each install ran exactly once: one line per host in the file the install script appends to.
            var installed = File.ReadAllLines(log).GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(names.Order(), installed.Keys.Order());
            Assert.All(installed, i => Assert.True(i.Value == 1, $"{i.Key} installed {i.Value} times"));
            // One dispatch in the cluster: every target queued at one instant, by one firing, whichever node fired it.
            Assert.Single(final.Select(t => t.QueuedAt).Distinct());
            var dispatched = Directory.EnumerateFiles(Path.Combine(Home, "logs"), "manager-*.log")
                .Sum(f => ReadShared(f).Count(l => l.Contains($"Dispatched execution {execution.ExecutionId}:", StringComparison.Ordinal)));
            Assert.Equal(1, dispatched);
            Assert.False(second.Process.HasExited, "node B still serves");
        }
        finally
        {
            foreach (var agent in agents)
            {
                agent.Dispose();
            }
            foreach (var node in nodes)
            {
                var said = await node.StopAsync();
                if (node.Process.ExitCode != 0 && node.Process.ExitCode != 137)
                {
                    output.WriteLine(said);
                }
                node.Dispose();
            }
        }
    }

    private static async Task<(string Url, string Pin)> AnnouncedAsync(DistEngine engine, NodeProcess node)
    {
        var announced = await Eventually.ForAsync(async () => (await engine.Managers.ListAsync())
            .FirstOrDefault(m => m.ProcessId == node.Process.Id && m.IsAlive && m.CertificatePin is not null), "the manager node announced itself", node);
        return (announced.Url, announced.CertificatePin!);
    }

    /// <summary>The lines of a log file another process may still be writing.</summary>
    private static List<string> ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }
        return lines;
    }

    private static async Task Bounded(Task task, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(60))) != task)
        {
            throw new TimeoutException($"Not within 60 s: {what}.");
        }
        await task;
    }

    public void Dispose()
    {
        if (_database is not null)
        {
            TestDatabase.Drop(_database);
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
