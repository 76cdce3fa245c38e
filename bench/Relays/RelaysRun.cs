using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using JP1Dist.Bench.Baseline;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Packaging;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Relay;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace JP1Dist.Bench.Relays;

/// <summary>
/// One run: a fresh data folder, an in-process manager and R in-process relays, N simulated clients registered through
/// their relays and long-polling them, one Install job of a package for all of them timed from execution to the last
/// result recorded at the manager; the content bytes each node served; then the direct-fetch reference.
/// </summary>
public static partial class RelaysRun
{
    /// <summary>The long-poll wait the clients ask for: the real agent's default.</summary>
    public static readonly TimeSpan LongPollWait = JP1Dist.Protocol.ProtocolLimits.PollWait;

    public const string Setup = "in-process: ManagerHost.Build and RelayHost.Build (Kestrel on 127.0.0.1:0 each, Quartz, SQLite, relay.db), "
        + "simulated clients (bench/Baseline/SimulatedAgent.cs) over HTTP to their relay, all in one process";

    private const string PackageName = "BenchRelayPackage";
    private const string JobName = "bench-relays";
    private const string IdGroupName = "ID_BENCH";
    private static readonly TimeSpan StatusPollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);
    private static readonly TargetStatus[] Unfinished = Enum.GetValues<TargetStatus>().Where(s => !s.IsFinal()).ToArray();

    /// <summary>Runs the benchmark; never throws for a failed run (the report carries the error), and always stops every app and deletes the folder.</summary>
    public static async Task<RelaysReport> RunAsync(RelaysOptions options, string build, TextWriter progress, CancellationToken cancellationToken)
    {
        var run = new RunState(options, progress);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        try
        {
            await run.RunAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            run.Error = $"The run did not finish within {options.Timeout.TotalSeconds:0} s (--timeout-seconds); {run.Describe()}.";
        }
        catch (Exception e)
        {
            run.Error = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            await run.CleanUpAsync();
        }
        if (run.Error is not null)
        {
            progress.WriteLine($"FAILED: {run.Error}");
        }
        return run.ToReport(build);
    }

    private sealed class RunState : IDisposable
    {
        private readonly RelaysOptions options;
        private readonly TextWriter progress;

        public RunState(RelaysOptions options, TextWriter progress)
        {
            this.options = options;
            this.progress = progress;
            _timings = new RequestTimings(_handler);
        }

        private readonly string _root = Directory.CreateTempSubdirectory("jp1dist-bench-relays-").FullName;
        private readonly SocketsHttpHandler _handler = new()
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        };
        private readonly RequestTimings _timings;
        private readonly CancellationTokenSource _clientsStop = new();
        private readonly List<Task> _clientTasks = [];
        private readonly RequestCounters _setup = new();
        private readonly RequestCounters _job = new();
        private readonly List<WebApplication> _relays = [];
        private readonly List<HttpClient> _clients = [];
        private readonly Stopwatch _jobClock = new();
        private WebApplication? _manager;
        private DistEngine? _engine;
        private long _firstWorkTicks = -1;
        private long _lastWorkTicks = -1;
        private long _lastDoneTicks = -1;
        private int _pollsSent;
        private int _workReceived;
        private int _clientsDone;

        private string Home => Path.Combine(_root, "manager");
        private string RelayFolder(int i) => Path.Combine(_root, $"relay{i:D2}");

        public string? Error { get; set; }
        private long _segmentSize;
        private int _segments;
        private RegistrationResult? _registration;
        private double? _secondsToLastResult, _secondsObserved, _startCallSeconds, _secondsToFirstResult;
        private RelaysBytes? _bytes;
        private IReadOnlyDictionary<string, long>? _managerRequests;
        private IReadOnlyDictionary<string, long>? _relayRequests;
        private double? _relayPollsWoken;
        private DirectFetchReference? _reference;
        private int _succeeded;
        private int _notSucceeded;
        private int _threadPoolThreadsMax = ThreadPool.ThreadCount;
        private readonly Dictionary<string, ServerLogSummary?> _logs = new(StringComparer.Ordinal);

        /// <summary>How far the run got, for a timeout's message.</summary>
        public string Describe() =>
            $"{Volatile.Read(ref _workReceived)} of {options.Clients} clients got their work, {Volatile.Read(ref _clientsDone)} reported Succeeded, {_succeeded} results recorded";

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            // Null secrets and parent: an environment variable meant for a real manager must not change this one.
            _manager = ManagerHost.Build(new ManagerOptions
            {
                ListenUrl = "http://127.0.0.1:0",
                Home = Home,
                QuietConsole = true,
                ShutdownSecret = null,
                ParentProcessId = null,
            });
            await _manager.StartAsync(cancellationToken);
            var managerUrl = _manager.BoundUrl();
            var engine = _engine = _manager.Services.GetRequiredService<DistEngine>();
            progress.WriteLine($"manager on {managerUrl}, data folder {Home}");

            // The package: pseudo-random bytes (nothing compresses or deduplicates them), default segment size.
            var payload = Path.Combine(_root, "source", "payload.bin");
            Directory.CreateDirectory(Path.GetDirectoryName(payload)!);
            var bytes = new byte[options.PackageBytes];
            new Random(42).NextBytes(bytes);
            await File.WriteAllBytesAsync(payload, bytes, cancellationToken);
            // Simulated clients never run the command, so a bare program name is enough.
            var package = await engine.Packages.CreateAsync(new NewPackageRequest(PackageName, "1.0", payload, "setup"), cancellationToken);
            _segmentSize = NewPackageRequest.DefaultSegmentSize;
            _segments = (int)((options.PackageBytes + _segmentSize - 1) / _segmentSize);
            progress.WriteLine($"package {package.Name}: {options.PackageBytes} bytes, {_segments} segments of {_segmentSize}");

            // Relays, each registering itself (kind Relay) with the token and then long-polling the manager.
            var token = await engine.Hosts.NewEnrollmentTokenAsync("benchmark", cancellationToken);
            var relayToken = await engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("benchmark relays", Relay: true), cancellationToken);
            var relayUrls = new List<string>();
            for (var i = 1; i <= options.Relays; i++)
            {
                var relay = RelayHost.Build(new RelayOptions
                {
                    HigherSystemUrl = new Uri(managerUrl),
                    Token = relayToken.Token!,
                    ListenUrl = "http://127.0.0.1:0",
                    Name = $"relay{i:D2}",
                    StateFolder = RelayFolder(i),
                    QuietConsole = true,
                });
                _relays.Add(relay);
                await relay.StartAsync(cancellationToken);
                relayUrls.Add(relay.BoundUrl());
            }
            var clock = Stopwatch.StartNew();
            while ((await engine.Hosts.ListAsync(cancellationToken: cancellationToken)).Count(h => h.Kind == HostKind.Relay) < options.Relays
                || _relays.Any(r => r.Services.GetRequiredService<RelayUpstream>().Identity is null))
            {
                await Task.Delay(StatusPollInterval, cancellationToken);
            }
            progress.WriteLine($"{options.Relays} relays registered in {clock.Elapsed.TotalSeconds:0.00} s: {string.Join(", ", relayUrls)}");
            // Executing a job nudges the managers announced in the database; wait for the announcement so the nudge is not lost.
            while (!(await engine.Managers.ListAsync(cancellationToken)).Any(m => m.IsAlive))
            {
                await Task.Delay(StatusPollInterval, cancellationToken);
            }

            // Clients, spread evenly: client i talks to relay i mod R only.
            foreach (var url in relayUrls)
            {
                _clients.Add(new HttpClient(_timings, disposeHandler: false) { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan });
            }
            var agents = Enumerable.Range(0, options.Clients)
                .Select(i => new SimulatedAgent(_clients[i % options.Relays], $"client{i + 1:D5}")).ToList();
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = cancellationToken };
            var startedAt = engine.Now;
            using var gate = new SemaphoreSlim(options.Parallelism);
            if (options.IdGroup)
            {
                // New clients served at registration: the job exists and runs before any client is known.
                await engine.IdGroups.CreateAsync(IdGroupName, null, cancellationToken);
                await engine.Jobs.CreateAsync(new NewJobRequest(JobName, PackageName, null, [IdGroupName], DestinationType: DestinationType.IdGroup), cancellationToken);
                await engine.Jobs.StartAsync(JobName, cancellationToken);
                await engine.IdGroups.SetPolicyAsync(IdGroupName, [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["client*"] }], cancellationToken);
                progress.WriteLine($"ID group job {JobName} executed; registering {options.Clients} clients, each joining the group");
                _timings.Recording = true;
                startedAt = engine.Now;
                _jobClock.Start();
            }
            clock.Restart();
            await Parallel.ForEachAsync(agents, parallel, (agent, ct) => new ValueTask(agent.RegisterAsync(token.Token!, _setup, ct)));
            _registration = new RegistrationResult(options.Clients, Round(clock.Elapsed.TotalSeconds), Round(options.Clients / clock.Elapsed.TotalSeconds), _setup.Retries);
            progress.WriteLine($"registered {options.Clients} clients through the relays in {clock.Elapsed.TotalSeconds:0.00} s ({_setup.Retries} retries)");
            if (options.IdGroup)
            {
                foreach (var agent in agents)
                {
                    _clientTasks.Add(RunClientAsync(agent, gate));
                }
            }
            else
            {
                // One immediate poll each, as a started agent does.
                await Parallel.ForEachAsync(agents, parallel, async (agent, ct) => await agent.PollAsync(TimeSpan.Zero, _setup, ct));

                await engine.Jobs.CreateAsync(new NewJobRequest(JobName, PackageName, null, agents.Select(a => a.Name).ToList()), cancellationToken);
                foreach (var agent in agents)
                {
                    _clientTasks.Add(RunClientAsync(agent, gate));
                }
                while (Volatile.Read(ref _pollsSent) < options.Clients)
                {
                    await Task.Delay(StatusPollInterval, cancellationToken);
                }
                // Sent is not yet waiting in the relay: give every long poll time to reach its wait.
                await Task.Delay(TimeSpan.FromMilliseconds(1000 + options.Clients), cancellationToken);

                progress.WriteLine($"executing job {JobName} for {options.Clients} long-polling clients");
                _timings.Recording = true;
                startedAt = engine.Now;
                _jobClock.Start();
                await engine.Jobs.StartAsync(JobName, cancellationToken);
                _startCallSeconds = Round(_jobClock.Elapsed.TotalSeconds);
            }
            var lastProgress = TimeSpan.Zero;
            while (true)
            {
                var query = Stopwatch.StartNew();
                var unfinished = await engine.Jobs.GetStatusAsync(new JobStatusQuery(JobName, Statuses: Unfinished), cancellationToken);
                var queryTime = query.Elapsed;
                _threadPoolThreadsMax = Math.Max(_threadPoolThreadsMax, ThreadPool.ThreadCount);
                if (unfinished.Count == 0)
                {
                    break;
                }
                if (_clientTasks.FirstOrDefault(t => t.IsFaulted) is { } faulted)
                {
                    await faulted; // surfaces the client's error instead of waiting for the timeout
                }
                if (_jobClock.Elapsed - lastProgress >= ProgressInterval)
                {
                    lastProgress = _jobClock.Elapsed;
                    var counts = unfinished.GroupBy(s => s.Status).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
                    progress.WriteLine($"  {_jobClock.Elapsed.TotalSeconds,6:0.0} s: {options.Clients - unfinished.Count} final; {string.Join(", ", counts)}; "
                        + $"clients: {Volatile.Read(ref _workReceived)} got work, {Volatile.Read(ref _clientsDone)} done");
                }
                // The figure comes from the recorded completion times, so polling less often loses no precision.
                await Task.Delay(Max(StatusPollInterval, queryTime * 4), cancellationToken);
            }
            _secondsObserved = Round(_jobClock.Elapsed.TotalSeconds);
            var outcome = await engine.Jobs.GetStatusAsync(new JobStatusQuery(JobName), cancellationToken);
            _succeeded = outcome.Count(s => s.Status == TargetStatus.Succeeded);
            _notSucceeded = outcome.Count - _succeeded;
            var completed = outcome.Where(s => s.CompletedAt is not null).Select(s => s.CompletedAt!.Value.ToUniversalTime()).ToList();
            if (completed.Count == 0)
            {
                throw new InvalidOperationException("Every target is final but none has a completion time.");
            }
            _secondsToLastResult = Round((completed.Max() - startedAt).TotalSeconds);
            _secondsToFirstResult = Round((completed.Min() - startedAt).TotalSeconds);
            await Task.WhenAll(_clientTasks).WaitAsync(cancellationToken);
            _timings.Recording = false;
            progress.WriteLine($"last result {_secondsToLastResult:0.000} s after execution ({_succeeded} Succeeded, {_notSucceeded} other); {_job.Total} client requests");
            if (_notSucceeded > 0)
            {
                var other = outcome.Where(s => s.Status != TargetStatus.Succeeded).Take(3).Select(s => $"{s.HostName} {s.Status}: {s.Message}");
                Error = $"{_notSucceeded} targets did not succeed, e.g. {string.Join("; ", other)}";
            }

            // Bytes served, as each node counts them.
            using var metricsHttp = new HttpClient(_handler, disposeHandler: false) { Timeout = TimeSpan.FromSeconds(30) };
            var managerMetrics = await metricsHttp.GetStringAsync(managerUrl.TrimEnd('/') + "/metrics", cancellationToken);
            var managerBytes = ContentBytesServed(managerUrl, managerMetrics);
            _managerRequests = RequestsByEndpoint(managerMetrics);
            _relayPollsWoken = RelayPollsWoken().Match(managerMetrics) is { Success: true } woken
                ? double.Parse(woken.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture)
                : null; // a build without the counter
            var perRelay = new List<long>();
            var relayRequests = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var url in relayUrls)
            {
                var text = await metricsHttp.GetStringAsync(url.TrimEnd('/') + "/metrics", cancellationToken);
                perRelay.Add(ContentBytesServed(url, text));
                foreach (var (endpoint, count) in RequestsByEndpoint(text))
                {
                    relayRequests[endpoint] = relayRequests.GetValueOrDefault(endpoint) + count;
                }
            }
            _relayRequests = relayRequests;
            var packageTimesRelays = options.PackageBytes * options.Relays;
            var packageTimesClients = options.PackageBytes * options.Clients;
            _bytes = new RelaysBytes(managerBytes, packageTimesRelays, Round((double)managerBytes / packageTimesRelays),
                perRelay.Sum(), packageTimesClients, Round((double)perRelay.Sum() / packageTimesClients), perRelay);
            progress.WriteLine($"manager served {managerBytes} bytes ({_bytes.ManagerRatio:0.000} x package x relays); relays served {_bytes.RelaysBytesTotal} ({_bytes.RelaysRatio:0.000} x package x clients)");

            progress.WriteLine($"direct-fetch reference: {options.Clients} clients x {_segments} Range requests, {options.Parallelism} at a time");
            _reference = await DirectFetch.RunAsync(payload, _segmentSize, options.Clients, options.Parallelism, _handler, cancellationToken);
            progress.WriteLine($"direct-fetch reference: {_reference.Seconds:0.000} s ({_reference.MegabytesPerSecond:0} MB/s)");
        }

        private async Task RunClientAsync(SimulatedAgent agent, SemaphoreSlim gate)
        {
            await Task.Yield();
            await agent.RunJobAsync(LongPollWait, gate, _job,
                () => Interlocked.Increment(ref _pollsSent),
                () =>
                {
                    var now = _jobClock.ElapsedTicks;
                    Interlocked.CompareExchange(ref _firstWorkTicks, now, -1);
                    InterlockedMax(ref _lastWorkTicks, now);
                    Interlocked.Increment(ref _workReceived);
                },
                _clientsStop.Token);
            InterlockedMax(ref _lastDoneTicks, _jobClock.ElapsedTicks);
            Interlocked.Increment(ref _clientsDone);
        }

        /// <summary>Stops the clients, the relays and the manager, reads their logs, and deletes the folder; never throws.</summary>
        public async Task CleanUpAsync()
        {
            await _clientsStop.CancelAsync();
            try
            {
                await Task.WhenAll(_clientTasks).WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception)
            {
                // Canceled or failed clients: the failure, if any, is already the run's error.
            }
            // Relays first: they call the manager.
            foreach (var (app, name) in _relays.Select((a, i) => ((WebApplication?)a, $"relay{i + 1:D2}")).Append((_manager, "manager")))
            {
                if (app is null)
                {
                    continue;
                }
                try
                {
                    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                    await app.StopAsync(stop.Token);
                }
                catch (Exception e)
                {
                    progress.WriteLine($"stopping {name} failed: {e.Message}");
                }
                try
                {
                    await app.DisposeAsync(); // flushes and closes the log, so it can be read and deleted
                }
                catch (Exception e)
                {
                    progress.WriteLine($"disposing {name} failed: {e.Message}");
                }
            }
            foreach (var client in _clients)
            {
                client.Dispose();
            }
            _logs["manager"] = ServerLog.Summarize(Path.Combine(Home, "logs"));
            for (var i = 1; i <= _relays.Count; i++)
            {
                _logs[$"relay{i:D2}"] = ServerLog.Summarize(Path.Combine(RelayFolder(i), "logs"));
            }
            if (Environment.GetEnvironmentVariable("JP1DIST_BENCH_KEEP") == "1")
            {
                progress.WriteLine($"kept {_root} (JP1DIST_BENCH_KEEP=1)");
            }
            else
            {
                // Pooled connections keep the database files open; release them before deleting them.
                SqliteConnection.ClearAllPools();
                try
                {
                    Directory.Delete(_root, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    progress.WriteLine($"could not delete {_root}: {e.Message}");
                }
            }
            Dispose();
        }

        public void Dispose()
        {
            _clientsStop.Dispose();
            _timings.Dispose();
            _handler.Dispose();
        }

        public RelaysReport ToReport(string build)
        {
            double? Seconds(long ticks) => ticks < 0 ? null : Round((double)ticks / Stopwatch.Frequency);
            var times = new RelaysTimes(
                _secondsToLastResult,
                _secondsObserved,
                _startCallSeconds,
                Seconds(Interlocked.Read(ref _firstWorkTicks)),
                Seconds(Interlocked.Read(ref _lastWorkTicks)),
                Seconds(Interlocked.Read(ref _lastDoneTicks)),
                _secondsToFirstResult,
                _secondsToLastResult is > 0 and var s ? Round(options.Clients / s) : null,
                _secondsToLastResult is > 0 and var s2 ? Round(options.Clients * (double)options.PackageBytes / 1048576.0 / s2, 1) : null);
            return new RelaysReport(
                "relays: one manager, R relays, N clients, one package",
                Setup,
                build,
                options.Clients,
                options.Relays,
                options.PackageBytes,
                _segmentSize,
                _segments,
                options.Parallelism,
                (int)LongPollWait.TotalSeconds,
                MachineInfo.Current(),
                times,
                _bytes,
                _reference,
                _secondsToLastResult is { } a && _reference?.Seconds is > 0 and var b ? Round(a / b, 2) : null,
                _succeeded,
                _notSucceeded,
                _registration,
                RequestBreakdown.From(_job),
                _timings.Summarize(),
                _managerRequests,
                _relayRequests,
                options.IdGroup
                    ? "id-group: an ID group job executed before the clients register; each client joins the group at registration and its work is queued then"
                    : "job: the clients register, then one Install job naming them is executed",
                _relayPollsWoken,
                _threadPoolThreadsMax,
                _logs,
                Error);
        }
    }

    /// <summary>jp1dist_content_bytes_served_total of a node, from its /metrics (Prometheus text).</summary>
    private static long ContentBytesServed(string url, string text)
    {
        var match = BytesServed().Match(text);
        return match.Success
            ? (long)double.Parse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"{url}/metrics has no jp1dist_content_bytes_served_total.");
    }

    [GeneratedRegex(@"^jp1dist_content_bytes_served_total (\S+)$", RegexOptions.Multiline)]
    private static partial Regex BytesServed();

    [GeneratedRegex(@"^jp1dist_relay_polls_woken_total (\S+)$", RegexOptions.Multiline)]
    private static partial Regex RelayPollsWoken();

    /// <summary>Requests a node received since it started, by method and endpoint (http_requests_received_total, all codes).</summary>
    private static Dictionary<string, long> RequestsByEndpoint(string text)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Match m in RequestsReceived().Matches(text))
        {
            var labels = m.Groups["labels"].Value;
            var method = Label().Matches(labels).FirstOrDefault(l => l.Groups[1].Value == "method")?.Groups[2].Value ?? "";
            var endpoint = Label().Matches(labels).FirstOrDefault(l => l.Groups[1].Value == "endpoint")?.Groups[2].Value ?? "";
            var key = $"{method} {endpoint}";
            counts[key] = counts.GetValueOrDefault(key) + (long)double.Parse(m.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        return counts;
    }

    [GeneratedRegex(@"^http_requests_received_total\{(?<labels>.*)\} (?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex RequestsReceived();

    [GeneratedRegex(@"(\w+)=""([^""]*)""")]
    private static partial Regex Label();

    private static void InterlockedMax(ref long location, long value)
    {
        var current = Interlocked.Read(ref location);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static double Round(double value, int digits = 3) => Math.Round(value, digits);
}
