using System.Diagnostics;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Packaging;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace JP1Dist.Bench.Baseline;

/// <summary>
/// One round of the baseline: a fresh data folder and in-process manager, N registered agents long-polling,
/// one job for all of them timed from execution to the last result in the database, then the ping reference.
/// </summary>
public static class BaselineRound
{
    /// <summary>The size of the package's only file: small, so the figures measure the protocol and the database, not bytes.</summary>
    public const int PackageBytes = 512;

    /// <summary>The long-poll wait the agents ask for; the real agent's default and the manager's maximum.</summary>
    public static readonly TimeSpan LongPollWait = TimeSpan.FromSeconds(30);

    /// <summary>How the manager runs in this benchmark, as the output states it.</summary>
    public const string ManagerMode = "in-process: ManagerHost.Build (Kestrel on http://127.0.0.1:0, Quartz, SQLite), simulated agents in the same process";

    private const string PackageName = "BenchPackage";
    private static readonly TimeSpan StatusPollInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TargetStatus[] Unfinished = Enum.GetValues<TargetStatus>().Where(s => !s.IsFinal()).ToArray();

    /// <summary>Runs one round; never throws for a failed round (the result carries the error), and always stops the manager and deletes the folder.</summary>
    public static async Task<RoundResult> RunAsync(int agentCount, BenchOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        var round = new RoundState(agentCount, options, progress);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RoundTimeout);
        try
        {
            await round.RunAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            round.Error = $"The round did not finish within {options.RoundTimeout.TotalSeconds:0} s (--timeout-seconds).";
        }
        catch (Exception e)
        {
            round.Error = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            await round.CleanUpAsync();
        }
        if (round.Error is not null)
        {
            progress.WriteLine($"[{agentCount}] FAILED: {round.Error}");
        }
        return round.ToResult();
    }

    /// <summary>Everything one round creates and measures, so that a failure part-way still cleans up and reports what it has.</summary>
    private sealed class RoundState(int agentCount, BenchOptions options, TextWriter progress) : IDisposable
    {
        private readonly string _root = Directory.CreateTempSubdirectory("jp1dist-bench-").FullName;
        private readonly SocketsHttpHandler _handler = new()
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        };
        private readonly CancellationTokenSource _agentsStop = new();
        private readonly List<Task> _agentTasks = [];
        private readonly RequestCounters _setup = new();
        private readonly RequestCounters _job = new();
        private HttpClient? _http;
        private WebApplication? _app;
        private long _firstWorkTicks = -1;
        private int _pollsSent;

        private string Home => Path.Combine(_root, "home");

        public string? Error { get; set; }
        private RegistrationResult? _registration;
        private double? _secondsToLastResult;
        private double? _secondsObserved;
        private double? _secondsToFirstWork;
        private double? _startCallSeconds;
        private long _referenceRequests;
        private double? _referenceSeconds;
        private int _succeeded;
        private int _failed;
        private int _threadPoolThreadsMax = ThreadPool.ThreadCount;
        private ServerLogSummary? _serverLog;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            // Null secrets and parent: an environment variable meant for a real manager must not change this one.
            _app = ManagerHost.Build(new ManagerOptions
            {
                ListenUrl = "http://127.0.0.1:0",
                Home = Home,
                QuietConsole = true,
                ShutdownSecret = null,
                ParentProcessId = null,
            });
            await _app.StartAsync(cancellationToken);
            var url = _app.BoundUrl();
            var engine = _app.Services.GetRequiredService<DistEngine>();
            progress.WriteLine($"[{agentCount}] manager {ManagerMode.Split(':')[0]} on {url}, data folder {Home}");

            var payload = Path.Combine(_root, "source", "payload.bin");
            Directory.CreateDirectory(Path.GetDirectoryName(payload)!);
            var bytes = new byte[PackageBytes];
            new Random(42).NextBytes(bytes);
            await File.WriteAllBytesAsync(payload, bytes, cancellationToken);
            // Simulated agents never run the command, so a bare program name is enough.
            await engine.Packages.CreateAsync(new NewPackageRequest(PackageName, "1.0", payload, "setup"), cancellationToken);
            var token = await engine.Hosts.NewEnrollmentTokenAsync("benchmark", cancellationToken);
            // Executing a job nudges the managers announced in the database; wait for the announcement so the nudge is not lost.
            while (!(await engine.Managers.ListAsync(cancellationToken)).Any(m => m.IsAlive))
            {
                await Task.Delay(StatusPollInterval, cancellationToken);
            }

            _http = new HttpClient(_handler, disposeHandler: false) { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };
            var agents = Enumerable.Range(1, agentCount).Select(i => new SimulatedAgent(_http, $"bench-{agentCount}-{i:D5}")).ToList();
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = cancellationToken };
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(agents, parallel, (agent, ct) => new ValueTask(agent.RegisterAsync(token.Token!, _setup, ct)));
            _registration = new RegistrationResult(agentCount, Round(clock.Elapsed.TotalSeconds), Round(agentCount / clock.Elapsed.TotalSeconds), _setup.Retries);
            progress.WriteLine($"[{agentCount}] registered {agentCount} agents in {clock.Elapsed.TotalSeconds:0.00} s");
            // One immediate poll each, as a started agent does: it opens the connection and caches the credential check.
            await Parallel.ForEachAsync(agents, parallel, async (agent, ct) => await agent.PollAsync(TimeSpan.Zero, _setup, ct));

            var jobName = $"bench-{agentCount}";
            await engine.Jobs.CreateAsync(new NewJobRequest(jobName, PackageName, null, agents.Select(a => a.Name).ToList()), cancellationToken);

            using var gate = new SemaphoreSlim(options.Parallelism);
            var jobClock = new Stopwatch();
            foreach (var agent in agents)
            {
                _agentTasks.Add(agent.RunJobAsync(LongPollWait, gate, _job,
                    () => Interlocked.Increment(ref _pollsSent),
                    () => Interlocked.CompareExchange(ref _firstWorkTicks, jobClock.ElapsedTicks, -1),
                    _agentsStop.Token));
            }
            while (Volatile.Read(ref _pollsSent) < agentCount)
            {
                await Task.Delay(StatusPollInterval, cancellationToken);
            }
            // Sent is not yet waiting in the manager: give every long poll time to reach its wait.
            await Task.Delay(TimeSpan.FromMilliseconds(1000 + agentCount), cancellationToken);

            progress.WriteLine($"[{agentCount}] executing job {jobName} for {agentCount} long-polling agents");
            var startedAt = engine.Now;
            jobClock.Start();
            await engine.Jobs.StartAsync(jobName, cancellationToken);
            _startCallSeconds = Round(jobClock.Elapsed.TotalSeconds);
            while (true)
            {
                var query = Stopwatch.StartNew();
                var unfinished = await engine.Jobs.GetStatusAsync(new JobStatusQuery(jobName, Statuses: Unfinished), cancellationToken);
                var queryTime = query.Elapsed;
                _threadPoolThreadsMax = Math.Max(_threadPoolThreadsMax, ThreadPool.ThreadCount);
                if (unfinished.Count == 0)
                {
                    break;
                }
                if (_agentTasks.FirstOrDefault(t => t.IsFaulted) is { } faulted)
                {
                    await faulted; // surfaces the agent's error instead of waiting for the timeout
                }
                // The figure comes from the recorded completion times, so polling less often loses no precision; with
                // a thousand unfinished targets one status query costs tens of milliseconds, and polling every 50 ms
                // would take a third of a core from the manager on a 2-core machine.
                await Task.Delay(Max(StatusPollInterval, queryTime * 4), cancellationToken);
            }
            _secondsObserved = Round(jobClock.Elapsed.TotalSeconds);
            var firstWork = Interlocked.Read(ref _firstWorkTicks);
            _secondsToFirstWork = firstWork < 0 ? null : Round((double)firstWork / Stopwatch.Frequency);

            var outcome = await engine.Jobs.GetStatusAsync(new JobStatusQuery(jobName), cancellationToken);
            _succeeded = outcome.Count(s => s.Status == TargetStatus.Succeeded);
            _failed = outcome.Count - _succeeded;
            var lastResult = outcome.Max(s => s.CompletedAt)?.ToUniversalTime() ?? throw new InvalidOperationException("Every target is final but none has a completion time.");
            _secondsToLastResult = Round((lastResult - startedAt).TotalSeconds);
            // The last report's answer may still be on its way back; the agents end right after it.
            await Task.WhenAll(_agentTasks).WaitAsync(cancellationToken);
            progress.WriteLine($"[{agentCount}] last result {_secondsToLastResult:0.000} s after execution; {_job.Total} requests");

            _referenceRequests = _job.Total;
            clock.Restart();
            await Parallel.ForEachAsync(Enumerable.Range(0, (int)_referenceRequests), parallel, async (_, ct) =>
            {
                using var response = await _http.GetAsync(ApiPaths.Ping, ct);
                response.EnsureSuccessStatusCode();
                await response.Content.ReadAsByteArrayAsync(ct);
            });
            _referenceSeconds = Round(clock.Elapsed.TotalSeconds);
            progress.WriteLine($"[{agentCount}] ping reference: {_referenceRequests} requests in {_referenceSeconds:0.000} s");
        }

        /// <summary>Stops the agents and the manager, reads the manager's log, and deletes the round's folder; never throws.</summary>
        public async Task CleanUpAsync()
        {
            await _agentsStop.CancelAsync();
            try
            {
                await Task.WhenAll(_agentTasks).WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception)
            {
                // Canceled or failed agents: the failure, if any, is already the round's error.
            }
            if (_app is not null)
            {
                try
                {
                    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                    await _app.StopAsync(stop.Token);
                }
                catch (Exception e)
                {
                    progress.WriteLine($"[{agentCount}] stopping the manager failed: {e.Message}");
                }
                await _app.DisposeAsync(); // flushes and closes the log, so it can be read and deleted
            }
            _http?.Dispose();
            _serverLog = ServerLog.Summarize(Path.Combine(Home, "logs"));
            // Pooled connections keep the database file open; release them before deleting it.
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                progress.WriteLine($"[{agentCount}] could not delete {_root}: {e.Message}");
            }
            Dispose();
        }

        public RoundResult ToResult()
        {
            var requests = _job.Total;
            return new RoundResult(
                agentCount,
                _secondsToLastResult,
                _secondsObserved,
                _secondsToFirstWork,
                _startCallSeconds,
                requests,
                RequestBreakdown.From(_job),
                _secondsToLastResult is > 0 and var seconds ? Round(agentCount / seconds) : null,
                _secondsToLastResult is > 0 and var s2 ? Round(requests / s2) : null,
                _referenceRequests,
                _referenceSeconds,
                _referenceSeconds is > 0 and var r ? Round(_referenceRequests / r) : null,
                _secondsToLastResult is { } a && _referenceSeconds is > 0 and var b ? Round(a / b, 1) : null,
                _succeeded,
                _failed,
                _registration,
                _threadPoolThreadsMax,
                _serverLog,
                Error);
        }

        public void Dispose()
        {
            _agentsStop.Dispose();
            _handler.Dispose();
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static double Round(double value, int digits = 3) => Math.Round(value, digits);
}
