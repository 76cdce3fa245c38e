using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using JP1Dist.Bench.Baseline;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Server.Serving;
using Microsoft.Data.Sqlite;

namespace JP1Dist.Bench.Soak;

/// <summary>
/// One soak: a `jp1dist manager` and a `jp1dist relay` on 127.0.0.1, N `jp1dist agent` processes (some below the relay
/// with the manager standing in, the rest on the manager), jobs started every so often while the manager and the relay are
/// killed (SIGKILL) and started again on the same folder and port at seeded random moments; then a bounded settle with
/// everything running, and the checks: every target final, each install run once, every result the manager holds the one
/// the agent ran, no node ended by itself.
/// </summary>
public sealed class SoakRun
{
    public const string Setup = "jp1dist processes on 127.0.0.1 over https: one manager (SQLite data folder), one relay, one process per agent; "
        + "the engine in-process on the manager's data folder creates packages and jobs and reads the status, as the cmdlets do";

    private const string RelayName = "soak-relay";
    private const long SegmentSize = 256 * 1024;
    private const double InstallSeconds = 2;
    private const int MaxSamples = 12;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(120);
    /// <summary>A start counts as refused when the process ends within this time (the port not free yet, say).</summary>
    private static readonly TimeSpan StartWatch = TimeSpan.FromSeconds(3);
    private const int MaxStartTries = 30;

    private readonly SoakOptions _options;
    private readonly SoakPlan _plan;
    private readonly TextWriter _progress;
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "jp1dist-bench-soak-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _executables;
    private readonly Lock _childrenGate = new();
    private readonly List<ChildNode> _children = [];
    private readonly List<ChildNode> _agents = [];
    private readonly Dictionary<string, NodeChaosCounter> _chaos = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<string, PlannedJob> _jobsStarted = [];
    private string _managerUrl = "";
    private string _relayUrl = "";
    private ChildNode? _manager;
    private ChildNode? _relay;
    private DistEngine? _engine;
    private int _largeJobs;
    private int _targetsStarted;
    private double? _registrationSeconds;
    private int _registeredPastRelay;
    private double? _chaosSeconds;
    private double? _toAllFinal;
    private double? _lastResultAfterChaos;
    private long? _agentsPssKib;
    private long? _managerPssKib;
    private long? _relayPssKib;
    private SoakChecks? _checks;
    private IReadOnlyDictionary<string, int> _byStatus = new Dictionary<string, int>();
    private IReadOnlyDictionary<string, int> _servedBy = new Dictionary<string, int>();
    private int _laterAttempts;
    private AgentLogSummary? _agentLogs;
    private readonly Dictionary<string, ServerLogSummary?> _nodeLogs = [];
    private readonly Dictionary<string, IReadOnlyDictionary<string, int>> _nodeLogKinds = [];
    private bool _cleanedUp;
    private CancellationTokenSource? _abort;
    private string? _abortReason;

    private SoakRun(SoakOptions options, SoakPlan plan, TextWriter progress)
    {
        _options = options;
        _plan = plan;
        _progress = progress;
        _executables = options.Executables ?? Path.Combine(RepoRoot(), "out", "jp1dist");
        foreach (var node in new[] { SoakPlan.ManagerNode, SoakPlan.RelayNode })
        {
            _chaos[node] = new NodeChaosCounter();
        }
    }

    public string? Error { get; private set; }

    private string Home => Path.Combine(_scratch, "home");
    private string RelayState => Path.Combine(_scratch, "relay");
    private string Installs => Path.Combine(_scratch, "installs");
    private string Outputs => Path.Combine(_scratch, "output");
    private DistEngine Engine => _engine ?? throw new InvalidOperationException("The engine is not open yet.");

    /// <summary>Runs the soak; never throws for a failed run (the report carries the error), and always kills every child and deletes the folder.</summary>
    public static async Task<SoakReport> RunAsync(SoakOptions options, string build, TextWriter progress, CancellationToken cancellationToken)
    {
        var seed = options.Seed ?? Random.Shared.Next();
        var plan = SoakPlan.Draw(seed, options);
        var run = new SoakRun(options, plan, progress);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        run._abort = abort;
        progress.WriteLine($"soak: seed {seed} (repeat the same choices with --seed {seed}); {plan.Jobs.Count} jobs and {plan.Kills.Count} kills planned over {options.Minutes} min");
        // The last resort when the process ends some other way than through the finally below (an unhandled signal).
        EventHandler killOnExit = (_, _) => run.KillEverything();
        AppDomain.CurrentDomain.ProcessExit += killOnExit;
        try
        {
            await run.ExecuteAsync(abort.Token);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            run.Error = $"Interrupted after {run._clock.Elapsed.TotalSeconds:0} s.";
        }
        catch (OperationCanceledException) when (run._abortReason is not null)
        {
            run.Error = run._abortReason;
        }
        catch (Exception e)
        {
            run.Error = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            await run.CleanUpAsync();
            AppDomain.CurrentDomain.ProcessExit -= killOnExit;
        }
        if (run.Error is not null)
        {
            progress.WriteLine($"FAILED: {run.Error}");
        }
        return run.ToReport(build);
    }

    private async Task ExecuteAsync(CancellationToken cancellationToken)
    {
        EnsureExecutable();
        foreach (var folder in new[] { Home, RelayState, Installs, Outputs, Path.Combine(_scratch, "agents"), Path.Combine(_scratch, "packages") })
        {
            Directory.CreateDirectory(folder);
        }
        var managerUrl = _managerUrl = $"https://127.0.0.1:{FreePort()}";
        var relayUrl = _relayUrl = $"https://127.0.0.1:{FreePort()}";
        Log($"scratch {_scratch}; manager {managerUrl}, relay {relayUrl}, jp1dist from {_executables}");

        _manager = Child(SoakPlan.ManagerNode, ["manager", "--listen", managerUrl, "--home", Home], diesWithParent: true);
        _manager.Start();
        _engine = DistEngine.ForFolder(Home);
        await WaitForAsync(async () => (await Engine.Managers.ListAsync(cancellationToken)).Any(m => m.ProcessId == _manager.Process!.Id && m.IsAlive),
            "the manager announced itself", _manager, StartupBound, cancellationToken);

        var relayToken = (await Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("soak relay", Relay: true), cancellationToken)).Token!;
        _relay = Child(SoakPlan.RelayNode, ["relay", "--manager", managerUrl, "--token", relayToken, "--listen", relayUrl, "--name", RelayName, "--state", RelayState]);
        _relay.Start();
        await WaitForAsync(async () => (await Engine.Hosts.ListAsync(RelayName, cancellationToken)).SingleOrDefault()?.RelayUrl is not null
                && File.Exists(Path.Combine(RelayState, NodeCertificate.IssuedFileName)),
            "the relay registered and obtained its certificate", _relay, StartupBound, cancellationToken);

        using var settled = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var guard = GuardMemoryAsync(settled.Token);
        await StartAgentsAsync(managerUrl, relayUrl, cancellationToken);

        Log($"chaos for {_options.Minutes} min: {_plan.Jobs.Count} jobs, {_plan.Kills.Count(k => k.Node == SoakPlan.ManagerNode)} kills of the manager, "
            + $"{_plan.Kills.Count(k => k.Node == SoakPlan.RelayNode)} of the relay");
        var chaosClock = Stopwatch.StartNew();
        var reporter = ReportProgressAsync(settled.Token);
        var jobs = RunJobsAsync(chaosClock, cancellationToken);
        var killers = new[] { _manager, _relay }.Select(node => RunKillsAsync(node, chaosClock, cancellationToken)).ToList();
        await Task.WhenAll([jobs, .. killers]);
        // The chaos lasts its minutes at least (a node started again after the last kill is part of it).
        await DelayUntilAsync(chaosClock, _options.Minutes * 60.0, cancellationToken);
        _chaosSeconds = chaosClock.Elapsed.TotalSeconds;
        if (!_manager.IsRunning || !_relay.IsRunning)
        {
            throw new InvalidOperationException($"After the chaos, the manager {(_manager.IsRunning ? "runs" : "is not running")} and the relay {(_relay.IsRunning ? "runs" : "is not running")}.");
        }
        var chaosEnd = DateTime.UtcNow;
        Log($"chaos over after {_chaosSeconds:0} s ({_chaos.Values.Sum(c => c.Kills)} kills); settling for at most {_options.SettleMinutes} min with everything running");

        var settle = Stopwatch.StartNew();
        IReadOnlyList<DistJobStatus> statuses;
        while (true)
        {
            statuses = await Engine.Jobs.GetStatusAsync(new JobStatusQuery(), cancellationToken);
            if (statuses.Count >= _targetsStarted && statuses.All(s => s.IsFinal))
            {
                _toAllFinal = settle.Elapsed.TotalSeconds;
                Log($"every target final {_toAllFinal:0.0} s after the chaos");
                break;
            }
            if (settle.Elapsed > TimeSpan.FromMinutes(_options.SettleMinutes))
            {
                Log($"not every target final after {_options.SettleMinutes} min of settling");
                break;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
        await settled.CancelAsync();
        await reporter;
        await guard;

        _agentsPssKib = Sum(_agents.Select(a => a.ProportionalSetKib()));
        _managerPssKib = _manager.ProportionalSetKib();
        _relayPssKib = _relay.ProportionalSetKib();
        if (statuses.Where(s => s.CompletedAt is not null).Select(s => s.CompletedAt!.Value.ToUniversalTime()).DefaultIfEmpty().Max() is var last && last != default)
        {
            _lastResultAfterChaos = (last - chaosEnd).TotalSeconds;
        }
        Judge(statuses);
        if (_checks is { Passed: false } checks)
        {
            Error = $"checks failed: {checks.NotFinal} not final, {checks.DoubleInstalls} double installs, {checks.LostResults} lost results, "
                + $"{checks.ResultsWithoutInstall} results without an install, {checks.UnexpectedOutcomes} unexpected outcomes, "
                + $"{checks.InstallsWithoutTarget} installs without a target, {checks.NodesStopped} nodes stopped";
        }
    }

    private async Task StartAgentsAsync(string managerUrl, string relayUrl, CancellationToken cancellationToken)
    {
        var token = (await Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("soak agents"), cancellationToken)).Token!;
        var tokenFile = Path.Combine(_scratch, "agent.token");
        await File.WriteAllTextAsync(tokenFile, token + "\n", cancellationToken);
        var below = _options.AgentsBelowRelay;
        Log($"starting {_options.Agents} agents: {below} below the relay (--manager RELAY,MANAGER), {_options.Agents - below} on the manager");
        var registration = Stopwatch.StartNew();
        for (var i = 1; i <= _options.Agents; i++)
        {
            var underRelay = i <= below;
            var name = underRelay ? $"soak-r{i:000}" : $"soak-m{i - below:000}";
            var state = Path.Combine(_scratch, "agents", name);
            var agent = Child(name, ["agent", "--manager", underRelay ? $"{relayUrl},{managerUrl}" : managerUrl, "--token-file", tokenFile, "--name", name, "--state", state]);
            _agents.Add(agent);
            agent.Start();
            // Paced, so 200 runtimes starting do not all compete for the two cores at once.
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
        var bound = TimeSpan.FromSeconds(Math.Max(120, _options.Agents * 2));
        var told = Stopwatch.StartNew();
        await WaitForAsync(async () =>
            {
                if (_agents.FirstOrDefault(a => a.EndedByItself) is { } ended)
                {
                    throw new InvalidOperationException($"Agent {ended.Name} ended with exit code {ended.ExitCode} before all registered: {Tail(OutputOf(ended))}");
                }
                var hosts = (await Engine.Hosts.ListAsync("soak-*", cancellationToken)).Count(h => h.Name != RelayName);
                var stored = _agents.Count(a => File.Exists(Path.Combine(_scratch, "agents", a.Name, "agent.json")));
                if (told.Elapsed > TimeSpan.FromSeconds(10))
                {
                    told.Restart();
                    Log($"registered: {hosts} at the manager, {stored} with their identity saved");
                }
                return hosts == _options.Agents && stored == _options.Agents;
            },
            $"all {_options.Agents} agents registered", null, bound, cancellationToken);
        _registrationSeconds = registration.Elapsed.TotalSeconds;
        // An agent whose first registration the relay could not serve in time registers with the manager standing in (and
        // moves below the relay when it goes back to it): a figure, not a failure.
        _registeredPastRelay = (await Engine.Hosts.ListAsync("soak-r*", cancellationToken)).Count(h => h.Name != RelayName && h.HigherSystem != RelayName);
        Log($"{_options.Agents} agents registered in {_registrationSeconds:0.0} s"
            + (_registeredPastRelay > 0 ? $"; {_registeredPastRelay} of those meant for the relay registered with the manager standing in" : ""));
    }

    /// <summary>Creates and executes each planned job at its time: a package of its own (so no job waits on another's version), for every agent.</summary>
    private async Task RunJobsAsync(Stopwatch chaosClock, CancellationToken cancellationToken)
    {
        var hosts = _agents.Select(a => a.Name).ToList();
        foreach (var job in _plan.Jobs)
        {
            await DelayUntilAsync(chaosClock, job.AtSeconds, cancellationToken);
            var folder = Path.Combine(_scratch, "packages", job.Name);
            Directory.CreateDirectory(folder);
            if (job.Large)
            {
                var payload = new byte[_options.PackageMegabytes * 1024 * 1024];
                new Random(_plan.Seed ^ job.Name.GetHashCode(StringComparison.Ordinal)).NextBytes(payload);
                await File.WriteAllBytesAsync(Path.Combine(folder, "payload.bin"), payload, cancellationToken);
            }
            else
            {
                await File.WriteAllTextAsync(Path.Combine(folder, "readme.txt"), $"{job.Name}: the install command alone\n", cancellationToken);
            }
            await Engine.Packages.CreateAsync(new NewPackageRequest("Soak-" + job.Name, "1.0", folder, "/bin/sh",
                ["-c", InstallLedger.Script, "soak-install", Installs, job.FailsOnSomeHosts ? "fail" : "ok", InstallSeconds.ToString(CultureInfo.InvariantCulture)],
                SegmentSize: job.Large ? SegmentSize : null), cancellationToken);
            await Engine.Jobs.CreateAsync(new NewJobRequest(job.Name, "Soak-" + job.Name, null, hosts, BandwidthLimitKBps: job.Large ? _options.CapKBps : 0), cancellationToken);
            var execution = await Engine.Jobs.StartAsync(job.Name, cancellationToken);
            lock (_jobsStarted)
            {
                _jobsStarted[job.Name] = job;
                _targetsStarted += execution.TargetCount;
                _largeJobs += job.Large ? 1 : 0;
            }
            Log($"job {job.Name} executed for {execution.TargetCount} hosts ({(job.Large ? $"{_options.PackageMegabytes} MB at {_options.CapKBps} KB/s" : "small")}"
                + $"{(job.FailsOnSomeHosts ? ", fails on purpose on hosts ending in 0" : "")}); manager {State(_manager)}, relay {State(_relay)}");
        }
    }

    /// <summary>Kills the node at each of its planned moments and starts it again, same arguments (folder, port), after its planned downtime.</summary>
    private async Task RunKillsAsync(ChildNode node, Stopwatch chaosClock, CancellationToken cancellationToken)
    {
        var counter = _chaos[node.Name];
        foreach (var kill in _plan.Kills.Where(k => k.Node == node.Name))
        {
            await DelayUntilAsync(chaosClock, kill.AtSeconds, cancellationToken);
            if (node.EndedByItself)
            {
                throw new InvalidOperationException($"The {node.Name} ended by itself (exit code {node.ExitCode}) before its kill at {kill.AtSeconds:0} s; see {OutputOf(node)}.");
            }
            var down = Stopwatch.StartNew();
            var from = _clock.Elapsed.TotalSeconds;
            await node.KillAsync();
            counter.Kills++;
            Log($"killed the {node.Name} (SIGKILL) at {chaosClock.Elapsed.TotalSeconds:0.0} s of the chaos; down for {kill.DownSeconds:0.0} s");
            await Task.Delay(TimeSpan.FromSeconds(kill.DownSeconds), cancellationToken);
            await StartAgainAsync(node, counter, cancellationToken);
            counter.SecondsDown += down.Elapsed.TotalSeconds;
            lock (counter)
            {
                counter.Down.Add((from, _clock.Elapsed.TotalSeconds));
            }
        }
    }

    private async Task StartAgainAsync(ChildNode node, NodeChaosCounter counter, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            node.Start();
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < StartWatch && node.IsRunning)
            {
                await Task.Delay(100, cancellationToken);
            }
            if (node.IsRunning)
            {
                Log($"started the {node.Name} again");
                return;
            }
            counter.StartsRefused++;
            Log($"the {node.Name} ended at once (exit code {node.ExitCode}); starting it again");
            if (attempt == MaxStartTries)
            {
                throw new InvalidOperationException($"The {node.Name} did not start again in {MaxStartTries} tries; see {OutputOf(node)}.");
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }

    /// <summary>
    /// Ends the run, naming why, when the machine's available memory falls below <see cref="MemoryFloorBytes"/>: the machine
    /// is shared, and the kernel's OOM killer would pick a process of its own choosing, maybe not one of this run's.
    /// </summary>
    private async Task GuardMemoryAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
                if (MemoryAvailableBytes() is { } available && available < MemoryFloorBytes)
                {
                    _abortReason = $"Stopped: the machine had {available / 1048576} MiB of memory available (floor {MemoryFloorBytes / 1048576} MiB); "
                        + $"the agents held {Megabytes(Sum(_agents.Select(a => a.ProportionalSetKib())))} MB. Run fewer agents (--agents).";
                    Log(_abortReason);
                    await _abort!.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private const long MemoryFloorBytes = 1L << 30;

    /// <summary>MemAvailable from /proc/meminfo, or null where there is none.</summary>
    private static long? MemoryAvailableBytes()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private async Task ReportProgressAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(ProgressInterval, cancellationToken);
                var statuses = await Engine.Jobs.GetStatusAsync(new JobStatusQuery(), cancellationToken);
                var counts = string.Join(", ", statuses.GroupBy(s => s.Status).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));
                var stopped = _agents.Count(a => a.EndedByItself);
                // The agents' own memory is read once, at the end: reading 200 processes' smaps under load took seconds.
                Log($"manager {State(_manager)}, relay {State(_relay)}; targets: {(counts.Length == 0 ? "none yet" : counts)}{(stopped > 0 ? $"; {stopped} agents ENDED" : "")}; "
                    + $"{MemoryAvailableBytes() / 1048576} MiB available");
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException)
        {
            Log($"progress query failed: {e.Message}");
        }
    }

    /// <summary>Compares every target with what its agent ran, and counts the nodes that ended by themselves.</summary>
    private void Judge(IReadOnlyList<DistJobStatus> statuses)
    {
        var ledger = InstallLedger.Read(Installs);
        var verdicts = statuses.Select(s => TargetVerdict.Judge(s, _jobsStarted[s.JobName], ledger.RunsOf(s.JobName, s.HostName))).ToList();
        var targets = statuses.Select(s => (s.JobName, s.HostName.ToLowerInvariant())).ToHashSet();
        var stray = ledger.Keys.Where(k => !targets.Contains(k)).ToList();
        var stopped = _children.Where(c => c.EndedByItself).ToList();
        var samples = verdicts.Where(v => v.Problem is not null).Select(v => $"{v.Kind}: {v.Problem}")
            .Concat(stray.Select(k => $"installsWithoutTarget: {k.Job} on {k.Host}"))
            .Concat(stopped.Select(c => $"nodeStopped: {c.Name} exit code {c.ExitCode}"))
            .Take(MaxSamples).ToList();
        _checks = new SoakChecks(
            statuses.Count,
            statuses.Count(s => s.IsFinal),
            ledger.Installs,
            verdicts.Count(v => v.Kind == TargetVerdict.NotFinal) + Math.Max(0, _targetsStarted - statuses.Count),
            verdicts.Count(v => v.Kind == TargetVerdict.DoubleInstall),
            verdicts.Count(v => v.Kind == TargetVerdict.LostResult),
            verdicts.Count(v => v.Kind == TargetVerdict.ResultWithoutInstall),
            verdicts.Count(v => v.Kind == TargetVerdict.UnexpectedOutcome),
            stray.Count,
            stopped.Count,
            samples);
        _byStatus = statuses.GroupBy(s => s.Status.ToString()).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        _servedBy = statuses.GroupBy(s => (s.HostName.StartsWith("soak-r", StringComparison.OrdinalIgnoreCase) ? "below relay, served by " : "on manager, served by ") + (s.ServedBy ?? "-"))
            .OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        _laterAttempts = statuses.Count(s => s.Attempt > 1);
        foreach (var sample in samples)
        {
            Log(sample);
        }
    }

    private async Task CleanUpAsync()
    {
        Log("stopping every process");
        List<ChildNode> children;
        lock (_childrenGate)
        {
            children = [.. _children];
            _cleanedUp = true;
        }
        // Agents first, so none of them logs the manager's end as a failure worth reading.
        await Task.WhenAll(children.AsEnumerable().Reverse().Select(c => c.KillAsync()));
        try
        {
            _agentLogs = AgentLogSummary.Read(_agents.Select(a => Path.Combine(_scratch, "agents", a.Name)), _managerUrl, _relayUrl);
            _nodeLogs["manager"] = ServerLog.Summarize(Path.Combine(Home, "logs"));
            _nodeLogs["relay"] = ServerLog.Summarize(Path.Combine(RelayState, "logs"));
            _nodeLogKinds["manager"] = LogKinds.Read(Path.Combine(Home, "logs"));
            _nodeLogKinds["relay"] = LogKinds.Read(Path.Combine(RelayState, "logs"));
        }
        catch (IOException e)
        {
            Log($"reading the logs failed: {e.Message}");
        }
        SqliteConnection.ClearAllPools();
        if (Environment.GetEnvironmentVariable("JP1DIST_BENCH_KEEP") == "1")
        {
            Log($"kept {_scratch} (JP1DIST_BENCH_KEEP=1)");
            return;
        }
        try
        {
            Directory.Delete(_scratch, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log($"could not remove {_scratch}: {e.Message}");
        }
    }

    /// <summary>Kills every child at once, without waiting: for the process's own exit.</summary>
    private void KillEverything()
    {
        lock (_childrenGate)
        {
            foreach (var child in _children)
            {
                try
                {
                    child.Process?.Kill(entireProcessTree: true);
                }
                catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                }
            }
        }
    }

    private ChildNode Child(string name, string[] arguments, bool diesWithParent = false)
    {
        var node = new ChildNode(name, _executables, arguments, Path.Combine(Outputs, name + ".out"), diesWithParent);
        lock (_childrenGate)
        {
            if (_cleanedUp)
            {
                throw new OperationCanceledException("The run is stopping.");
            }
            _children.Add(node);
        }
        return node;
    }

    private SoakReport ToReport(string build)
    {
        var below = _options.AgentsBelowRelay;
        var nodes = _chaos.Select(pair => new NodeChaos(pair.Key, pair.Value.Kills,
            (pair.Key == SoakPlan.ManagerNode ? _manager : _relay)?.Starts ?? 0, pair.Value.StartsRefused, Math.Round(pair.Value.SecondsDown, 1))).ToList();
        return new SoakReport(
            "soak: a manager and a relay killed (SIGKILL) and started again at random while jobs run for every agent",
            Setup,
            build,
            MachineInfo.Current(),
            _plan.Seed,
            $"dotnet run -c {build} --project bench/Soak -- --seed {_plan.Seed} --agents {_options.Agents} --below-relay {below} --minutes {_options.Minutes} "
                + $"--settle-minutes {_options.SettleMinutes} --job-every-seconds {_options.JobEverySeconds} --package-mb {_options.PackageMegabytes} --cap-kbps {_options.CapKBps} "
                + $"--kill-seconds {_options.KillSeconds.Min}-{_options.KillSeconds.Max} --down-seconds {_options.DownSeconds.Min}-{_options.DownSeconds.Max}",
            new SoakAgents(_options.Agents, below, _options.Agents - below, _registeredPastRelay, Round(_registrationSeconds),
                Megabytes(_agentsPssKib), _agentsPssKib is { } total && _agents.Count > 0 ? Math.Round(total / 1024.0 / _agents.Count, 1) : null,
                Megabytes(_managerPssKib), Megabytes(_relayPssKib)),
            new SoakJobs(_jobsStarted.Count, _largeJobs, _jobsStarted.Count - _largeJobs, _jobsStarted.Values.Count(j => j.FailsOnSomeHosts), _targetsStarted,
                _options.PackageMegabytes * 1024L * 1024L, SegmentSize, _options.CapKBps, InstallSeconds),
            new SoakChaos(_options.Minutes, nodes.Sum(n => n.Kills), nodes, Math.Round(BothDownSeconds(), 1)),
            new SoakTimes(Round(_chaosSeconds), Round(_toAllFinal), Round(_lastResultAfterChaos), _options.SettleMinutes * 60.0, Round(_clock.Elapsed.TotalSeconds)),
            _checks,
            _byStatus,
            _servedBy,
            _laterAttempts,
            _agentLogs,
            _nodeLogs,
            _nodeLogKinds,
            _plan.Jobs,
            _plan.Kills,
            Error);
    }

    /// <summary>How long the manager and the relay were both down at once (the relay's clients had nowhere to go).</summary>
    private double BothDownSeconds()
    {
        var manager = _chaos[SoakPlan.ManagerNode].Down;
        var relay = _chaos[SoakPlan.RelayNode].Down;
        return manager.Sum(m => relay.Sum(r => Math.Max(0, Math.Min(m.To, r.To) - Math.Max(m.From, r.From))));
    }

    private async Task WaitForAsync(Func<Task<bool>> condition, string what, ChildNode? node, TimeSpan bound, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (node is { EndedByItself: true })
            {
                throw new InvalidOperationException($"Waiting until {what}: the {node.Name} ended with exit code {node.ExitCode}: {Tail(OutputOf(node))}");
            }
            if (watch.Elapsed > bound)
            {
                throw new TimeoutException($"Waiting until {what}: not within {bound.TotalSeconds:0} s.");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }
    }

    private void EnsureExecutable()
    {
        // Fails early, naming the build to make, when there is no jp1dist to start.
        Core.Managers.ManagerLauncher.FindExecutable(_executables);
    }

    private static async Task DelayUntilAsync(Stopwatch clock, double seconds, CancellationToken cancellationToken)
    {
        var wait = TimeSpan.FromSeconds(seconds) - clock.Elapsed;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken);
        }
    }

    /// <summary>
    /// A port that is free now, below the range the system hands out for outgoing connections, so that no agent's
    /// connection can hold it while the node that listens on it is down.
    /// </summary>
    private static int FreePort()
    {
        var low = 32768;
        try
        {
            low = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split('\t', ' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
        }
        for (var tries = 0; tries < 200; tries++)
        {
            var port = Random.Shared.Next(Math.Max(1024, low - 12000), low);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                listener.Stop();
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException("No free port on 127.0.0.1 below the ephemeral range.");
    }

    private string OutputOf(ChildNode node) => Path.Combine(Outputs, node.Name + ".out");

    private static string Tail(string file)
    {
        try
        {
            var text = File.ReadAllText(file);
            return text.Length > 1500 ? "…" + text[^1500..] : text;
        }
        catch (IOException)
        {
            return "(no output)";
        }
    }

    private static string State(ChildNode? node) => node is { IsRunning: true } ? "up" : "DOWN";

    private void Log(string message) => _progress.WriteLine($"[{_clock.Elapsed.TotalSeconds,7:0.0}s] {message}");

    private static long? Sum(IEnumerable<long?> values)
    {
        var list = values.ToList();
        return list.Count > 0 && list.All(v => v is not null) ? list.Sum() : null;
    }

    private static double? Megabytes(long? kib) => kib is { } value ? Math.Round(value / 1024.0, 1) : null;

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 1) : null;

    private static string RepoRoot()
    {
        for (var folder = AppContext.BaseDirectory; folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (File.Exists(Path.Combine(folder, "JP1Dist.sln")))
            {
                return folder;
            }
        }
        return Environment.CurrentDirectory;
    }

    private sealed class NodeChaosCounter
    {
        public int Kills { get; set; }
        public int StartsRefused { get; set; }
        public double SecondsDown { get; set; }
        public List<(double From, double To)> Down { get; } = [];
    }
}
