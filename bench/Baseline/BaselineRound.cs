using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Storage;
using JP1Dist.Tests;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace JP1Dist.Bench.Baseline;

/// <summary>
/// One round of the baseline: a fresh data folder and a `jp1dist manager` process on it, N agents in client processes
/// registering (timed), then long-polling while the idle manager's CPU and memory are read, one job for all of them
/// timed from execution to the last result in the database, then the ping reference from the same client processes.
/// </summary>
public static class BaselineRound
{
    /// <summary>The size of the package's only file: small, so the figures measure the protocol and the database, not bytes.</summary>
    public const int PackageBytes = 512;

    /// <summary>The long-poll wait the agents ask for: the real agent's default (which is the manager's maximum).</summary>
    public static readonly TimeSpan LongPollWait = JP1Dist.Protocol.ProtocolLimits.PollWait;

    /// <summary>How the manager runs in this benchmark, as the output states it.</summary>
    public static string ManagerMode(BenchDatabase database) => "process: jp1dist manager (Kestrel on http://127.0.0.1:0, Quartz, "
        + (database == BenchDatabase.PostgreSql ? "PostgreSQL" : "SQLite") + ") started by ManagerLauncher; "
        + "simulated agents in client processes (this executable, one connection per agent, as few processes as the descriptor limit allows); "
        + "the engine in the benchmark's process on the same data folder creates, executes and reads the job, as a local PowerShell session does";

    private const string PackageName = "BenchPackage";
    private static readonly TimeSpan ManagerStartTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan StatusPollInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TargetStatus[] Unfinished = Enum.GetValues<TargetStatus>().Where(s => !s.IsFinal()).ToArray();

    /// <summary>
    /// Runs one round; never throws for a failed round (the result carries the error), and always stops the processes and
    /// deletes the folder (and on PostgreSQL the round's database on <paramref name="postgres"/>).
    /// </summary>
    public static async Task<RoundResult> RunAsync(int agentCount, BenchOptions options, PostgresServer? postgres, TextWriter progress, CancellationToken cancellationToken)
    {
        var round = new RoundState(agentCount, options, postgres, progress);
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
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            round.Error = "Stopped before the end (Ctrl+C or SIGTERM).";
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

    /// <summary>The folder of the jp1dist executable: the option, else out/jp1dist of the repository this benchmark was built in (it builds it).</summary>
    public static string Jp1DistFolder(BenchOptions options) => options.Jp1DistFolder
        ?? typeof(BaselineRound).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "Jp1DistFolder").Value!;

    /// <summary>The build configuration jp1dist.dll was compiled in (its AssemblyConfiguration), read without loading it.</summary>
    public static string? BuildOf(string dll)
    {
        if (!File.Exists(dll))
        {
            return null;
        }
        using var stream = File.OpenRead(dll);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.GetAssemblyDefinition().GetCustomAttributes())
        {
            var attribute = metadata.GetCustomAttribute(handle);
            if (attribute.Constructor.Kind == HandleKind.MemberReference
                && metadata.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent is { Kind: HandleKind.TypeReference } parent
                && metadata.GetString(metadata.GetTypeReference((TypeReferenceHandle)parent).Name) == nameof(AssemblyConfigurationAttribute))
            {
                var value = metadata.GetBlobReader(attribute.Value);
                value.ReadUInt16(); // the prolog
                return value.ReadSerializedString();
            }
        }
        return null;
    }

    /// <summary>Everything one round creates and measures, so that a failure part-way still cleans up and reports what it has.</summary>
    private sealed class RoundState(int agentCount, BenchOptions options, PostgresServer? postgres, TextWriter progress)
    {
        private readonly string _root = Directory.CreateTempSubdirectory("jp1dist-bench-").FullName;
        private DatabaseSettings? _database;
        private LaunchedManager? _manager;
        private ClientFleet? _fleet;

        private string Home => Path.Combine(_root, "home");

        public string? Error { get; set; }
        private RegistrationResult? _registration;
        private double? _secondsToLastResult;
        private double? _secondsObserved;
        private double? _secondsToFirstWork;
        private double? _startCallSeconds;
        private RequestBreakdown? _requests;
        private long _referenceRequests;
        private double? _referenceSeconds;
        private int _succeeded;
        private int _failed;
        private int _threadPoolThreadsMax;
        private ClientResources? _clients;
        private SecondJobResult? _secondJob;
        private ServerLogSummary? _serverLog;
        private ManagerResources? _resources;
        private string? _loadAverage;
        private DatabaseServerResources? _databaseServer;
        private ServerLogSummary? _databaseServerLog;
        private ServerLogSummary? _databaseServerLogDuringJob;
        private long? _databaseLogAtJob;
        private long? _databaseLogAtJobEnd;
        private readonly long _databaseLogStart = postgres is not null ? ServerLog.LengthOf(postgres.LogPath) : 0;

        /// <summary>The machine's load averages (1, 5 and 15 minutes), or null where /proc/loadavg is not.</summary>
        private static string? LoadAverage() =>
            File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : null;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var executables = Jp1DistFolder(options);
            var managerBuild = BuildOf(Path.Combine(executables, "jp1dist.dll"));
            if (postgres is not null)
            {
                // A database of the round's own, recorded in the data folder as `jp1dist manager --database` records it, so
                // that the engine here and the manager process use it; the engine creates and migrates it on first use. The
                // connection string names only where it is: the pool and the timeouts are Npgsql's defaults, as an
                // administrator's would be.
                _database = new DatabaseSettings(DatabaseProvider.PostgreSql, new NpgsqlConnectionStringBuilder
                {
                    Host = "127.0.0.1", Port = postgres.Port, Username = "postgres", Database = $"bench_{agentCount}_{Guid.NewGuid().ToString("N")[..8]}",
                }.ConnectionString);
                _database.RecordIn(new DataFolder(Home));
            }
            var engine = new DistEngine(new DataFolder(Home));
            var payload = Path.Combine(_root, "source", "payload.bin");
            Directory.CreateDirectory(Path.GetDirectoryName(payload)!);
            var bytes = new byte[PackageBytes];
            new Random(42).NextBytes(bytes);
            await File.WriteAllBytesAsync(payload, bytes, cancellationToken);
            // Simulated agents never run the command, so a bare program name is enough.
            await engine.Packages.CreateAsync(new NewPackageRequest(PackageName, "1.0", payload, "setup"), cancellationToken);
            var token = await engine.Hosts.NewEnrollmentTokenAsync("benchmark", cancellationToken);

            // The real manager, bound to this process (it ends when this process ends, even killed).
            _manager = await ManagerLauncher.StartAsync(executables, new ManagerStartRequest("http://127.0.0.1:0"), engine, ManagerStartTimeout, cancellationToken);
            var managerId = _manager.Process.Id;
            progress.WriteLine($"[{agentCount}] manager (jp1dist {managerBuild ?? "?"} build, pid {managerId}) on {_manager.Url}, data folder {Home}, "
                + (_database?.Describe() ?? "SQLite"));

            var (processes, fileLimit) = ClientFleet.ProcessesFor(agentCount, options.Parallelism);
            processes = options.ClientProcesses ?? processes;
            _fleet = await ClientFleet.StartAsync(_manager.Url, agentCount, processes, $"bench-{agentCount}-", cancellationToken);
            var share = _fleet.Share(options.Parallelism);
            progress.WriteLine($"[{agentCount}] {processes} client process(es) (pids {string.Join(", ", _fleet.ProcessIds)}; open-file limit {fileLimit?.ToString() ?? "none"}), "
                + $"{share} requests at once each");

            // The manager's CPU per registration compares runs on a loaded machine better than the rate, which follows the load.
            var registrationLoad = LoadAverage();
            var registrationFrom = ManagerProbe.Available ? ManagerProbe.Read(managerId) : null;
            var serverRegistrationFrom = ReadServer();
            var clock = Stopwatch.StartNew();
            var registered = await _fleet.SendAsync(_ => new ClientCommand(ClientCommands.Register, token.Token, share), cancellationToken);
            var registrationCpu = registrationFrom is null ? (double?)null : ManagerProbe.Read(managerId).CpuSeconds - registrationFrom.CpuSeconds;
            var serverRegistrationTo = ReadServer();
            _registration = new RegistrationResult(agentCount, Round(clock.Elapsed.TotalSeconds), Round(agentCount / clock.Elapsed.TotalSeconds), registered.Sum(r => r.Retries),
                registrationCpu is { } cpu ? Round(cpu, 2) : null, registrationCpu is { } c ? Round(c * 1000 / agentCount, 3) : null, registrationLoad);
            progress.WriteLine($"[{agentCount}] registered {agentCount} agents in {clock.Elapsed.TotalSeconds:0.00} s ({_registration.PerSecond:0} hosts/s, {_registration.Retries} retries; "
                + $"manager CPU {_registration.ManagerCpuMsPerHost?.ToString("0.00", CultureInfo.InvariantCulture) ?? "?"} ms per host"
                + (serverRegistrationTo is not null ? $", PostgreSQL {serverRegistrationTo.CpuSeconds - serverRegistrationFrom!.CpuSeconds:0.0} CPU s" : "")
                + $"; load average {registrationLoad ?? "?"})");
            // One immediate poll each, as a started agent does: it opens the connection and caches the credential check.
            await _fleet.SendAsync(_ => new ClientCommand(ClientCommands.Poll, Parallelism: share), cancellationToken);

            var jobName = $"bench-{agentCount}";
            var names = Enumerable.Range(1, agentCount).Select(i => $"bench-{agentCount}-{i:D5}").ToList();
            await engine.Jobs.CreateAsync(new NewJobRequest(jobName, PackageName, null, names), cancellationToken);

            await _fleet.SendAsync(_ => new ClientCommand(ClientCommands.Listen, Parallelism: share), cancellationToken);
            // Sent is not yet waiting in the manager: give every long poll time to reach its wait.
            await Task.Delay(TimeSpan.FromMilliseconds(1000 + agentCount), cancellationToken);

            // Idle: every agent connected and waiting in its long poll; over one long-poll wait each poll ends and is sent again once.
            ProcessSample? idleFrom = null, idleTo = null;
            ClusterSample? serverIdleFrom = null, serverIdleTo = null;
            if (ManagerProbe.Available)
            {
                progress.WriteLine($"[{agentCount}] watching the idle manager for {options.IdleWindow.TotalSeconds:0} s");
                idleFrom = ManagerProbe.Read(managerId);
                serverIdleFrom = ReadServer();
                await Task.Delay(options.IdleWindow, cancellationToken);
                idleTo = ManagerProbe.Read(managerId);
                serverIdleTo = ReadServer();
                progress.WriteLine($"[{agentCount}] idle manager: {ProcessSample.CpuPercent(idleFrom, idleTo):0.00} % of one core "
                    + $"({ProcessSample.KernelCpuPercent(idleFrom, idleTo):0.00} in the kernel), RSS {idleTo.RssKib / 1024.0:0} MB, "
                    + $"{idleTo.Threads} threads, {idleTo.FileDescriptors} open descriptors"
                    + (serverIdleTo is not null ? $"; PostgreSQL {ClusterSample.CpuPercent(serverIdleFrom!, serverIdleTo):0.00} % of one core, "
                        + $"Pss {serverIdleTo.PssKib / 1024.0:0} MB in {serverIdleTo.Processes} processes" : ""));
            }

            await _fleet.SendAsync(_ => new ClientCommand(ClientCommands.Mark), cancellationToken);
            // The machine's load says how far the seconds can be trusted: other processes share its cores.
            _loadAverage = LoadAverage();
            progress.WriteLine($"[{agentCount}] executing job {jobName} for {agentCount} long-polling agents (load average {_loadAverage ?? "?"})");
            var jobFrom = ManagerProbe.Available ? ManagerProbe.Read(managerId) : null;
            var clientsJobFrom = ClientCpuSeconds();
            var serverJobFrom = ReadServer();
            _databaseLogAtJob = postgres is not null ? ServerLog.LengthOf(postgres.LogPath) : null;
            var startedAt = engine.Now;
            var jobClock = Stopwatch.StartNew();
            await engine.Jobs.StartAsync(jobName, cancellationToken);
            _startCallSeconds = Round(jobClock.Elapsed.TotalSeconds);
            // Each client process answers once all its agents have reported Succeeded (or at the first that failed).
            var finished = await _fleet.SendAsync(_ => new ClientCommand(ClientCommands.Finish), cancellationToken);
            var jobTo = ManagerProbe.Available ? ManagerProbe.Read(managerId) : null;
            var clientsJobTo = ClientCpuSeconds();
            var jobSeconds = jobClock.Elapsed.TotalSeconds;
            var serverJobTo = ReadServer();
            _databaseLogAtJobEnd = postgres is not null ? ServerLog.LengthOf(postgres.LogPath) : null;
            while ((await engine.Jobs.GetStatusAsync(new JobStatusQuery(jobName, Statuses: Unfinished), cancellationToken)).Count > 0)
            {
                await Task.Delay(StatusPollInterval, cancellationToken);
            }
            _secondsObserved = Round(jobClock.Elapsed.TotalSeconds);
            _requests = RequestBreakdown.Sum(finished.Select(f => f.Requests!));
            var firstWork = finished.Select(f => f.FirstWorkAt).Where(t => t is not null).Min();
            _secondsToFirstWork = firstWork is { } w ? Round((w - startedAt).TotalSeconds) : null;

            var outcome = await engine.Jobs.GetStatusAsync(new JobStatusQuery(jobName), cancellationToken);
            _succeeded = outcome.Count(s => s.Status == TargetStatus.Succeeded);
            _failed = outcome.Count - _succeeded;
            var lastResult = outcome.Max(s => s.CompletedAt)?.ToUniversalTime() ?? throw new InvalidOperationException("Every target is final but none has a completion time.");
            _secondsToLastResult = Round((lastResult - startedAt).TotalSeconds);
            progress.WriteLine($"[{agentCount}] last result {_secondsToLastResult:0.000} s after execution; {_requests.CountAll()} requests; "
                + $"the execution recorded in {_startCallSeconds:0.000} s, first work {_secondsToFirstWork:0.000} s after execution");

            if (idleFrom is not null && idleTo is not null && jobFrom is not null && jobTo is not null)
            {
                var jobCpu = jobTo.CpuSeconds - jobFrom.CpuSeconds;
                _resources = new ManagerResources(managerId, managerBuild, Round((idleTo.At - idleFrom.At).TotalSeconds, 1),
                    Round(idleTo.CpuSeconds - idleFrom.CpuSeconds, 2), Round(ProcessSample.CpuPercent(idleFrom, idleTo), 2),
                    Round(idleTo.RssKib / 1024.0, 1), idleTo.Threads, idleTo.FileDescriptors,
                    Round(jobCpu, 2), Round(ProcessSample.CpuPercent(jobFrom, jobTo), 1), Round(jobTo.PeakRssKib / 1024.0, 1),
                    registrationCpu is { } registrationSeconds ? Round(registrationSeconds, 2) : null,
                    Round(ProcessSample.KernelCpuPercent(idleFrom, idleTo), 2));
                progress.WriteLine($"[{agentCount}] manager during the job: {jobCpu:0.00} CPU s ({_resources.JobCpuPercentOfOneCore:0} % of one core), peak RSS {_resources.PeakRssMB:0} MB");
            }
            if (serverRegistrationFrom is not null && serverRegistrationTo is not null && serverIdleFrom is not null && serverIdleTo is not null
                && serverJobFrom is not null && serverJobTo is not null)
            {
                _databaseServer = new DatabaseServerResources(
                    Round(serverRegistrationTo.CpuSeconds - serverRegistrationFrom.CpuSeconds, 2),
                    Round(serverIdleTo.CpuSeconds - serverIdleFrom.CpuSeconds, 2), Round(ClusterSample.CpuPercent(serverIdleFrom, serverIdleTo), 2),
                    Round(serverIdleTo.PssKib / 1024.0, 1), serverIdleTo.Processes,
                    Round(serverJobTo.CpuSeconds - serverJobFrom.CpuSeconds, 2), Round(ClusterSample.CpuPercent(serverJobFrom, serverJobTo), 1),
                    Round(serverJobTo.PssKib / 1024.0, 1), serverJobTo.Processes);
                progress.WriteLine($"[{agentCount}] PostgreSQL during the job: {_databaseServer.JobCpuSeconds:0.00} CPU s ({_databaseServer.JobCpuPercentOfOneCore:0} % of one core), "
                    + $"Pss {_databaseServer.JobEndPssMB:0} MB in {_databaseServer.JobEndProcesses} processes");
            }

            await RunSecondJobAsync(engine, jobName, payload, names, share, managerId, cancellationToken);

            // The floor: the same number of trivial requests from the same client processes, on their connections.
            _referenceRequests = _requests.CountAll();
            var clientsReferenceFrom = ClientCpuSeconds();
            var managerReferenceFrom = ManagerProbe.Available ? ManagerProbe.Read(managerId) : null;
            var pings = await _fleet.SendAsync(i => new ClientCommand(ClientCommands.Ping, Parallelism: share,
                Count: _referenceRequests / processes + (i < _referenceRequests % processes ? 1 : 0)), cancellationToken);
            _referenceSeconds = Round(pings.Max(p => p.Seconds!.Value));
            if (managerReferenceFrom is not null && _resources is not null)
            {
                var referenceCpu = ManagerProbe.Read(managerId).CpuSeconds - managerReferenceFrom.CpuSeconds;
                _resources = _resources with
                {
                    ReferenceCpuSeconds = Round(referenceCpu, 2),
                    JobCpuMicrosecondsPerRequest = _resources.JobCpuSeconds is { } jobCpu ? Round(jobCpu * 1e6 / _referenceRequests, 1) : null,
                    ReferenceCpuMicrosecondsPerRequest = Round(referenceCpu * 1e6 / _referenceRequests, 1),
                };
                progress.WriteLine($"[{agentCount}] manager CPU per request: {_resources.JobCpuMicrosecondsPerRequest:0} µs in the job, "
                    + $"{_resources.ReferenceCpuMicrosecondsPerRequest:0} µs per ping");
            }
            _threadPoolThreadsMax = pings.Max(p => p.ThreadPoolThreadsMax);
            progress.WriteLine($"[{agentCount}] ping reference: {_referenceRequests} requests in {_referenceSeconds:0.000} s");
            if (clientsJobFrom is { } cf && clientsJobTo is { } ct && clientsReferenceFrom is { } rf && ClientCpuSeconds() is { } rt)
            {
                _clients = new ClientResources(Round(ct - cf, 2), Round((ct - cf) / jobSeconds * 100, 1), Round(rt - rf, 2));
                progress.WriteLine($"[{agentCount}] client processes (the simulated agents): {_clients.JobCpuSeconds:0.00} CPU s during the job "
                    + $"({_clients.JobCpuPercentOfOneCore:0} % of one core), {_clients.ReferenceCpuSeconds:0.00} CPU s during the ping reference");
            }
        }

        /// <summary>
        /// A second job, of another package, for the same agents on the same manager: its code was compiled by the first job
        /// (the JIT's share of the first), as a manager that has run for a while runs every job. Measured as the first, from
        /// executing it to its last result recorded; the ratio is against the same floor.
        /// </summary>
        private async Task RunSecondJobAsync(DistEngine engine, string firstJob, string payload, IReadOnlyList<string> names, int share, int managerId,
            CancellationToken cancellationToken)
        {
            var package = PackageName + "-again";
            var jobName = firstJob + "-again";
            await engine.Packages.CreateAsync(new NewPackageRequest(package, "1.0", payload, "setup"), cancellationToken);
            await engine.Jobs.CreateAsync(new NewJobRequest(jobName, package, null, names), cancellationToken);
            await _fleet!.SendAsync(_ => new ClientCommand(ClientCommands.Listen, Parallelism: share), cancellationToken);
            await Task.Delay(TimeSpan.FromMilliseconds(1000 + agentCount), cancellationToken);
            await _fleet.SendAsync(_ => new ClientCommand(ClientCommands.Mark), cancellationToken);
            progress.WriteLine($"[{agentCount}] executing job {jobName}, a second one on the running manager");
            var from = ManagerProbe.Available ? ManagerProbe.Read(managerId) : null;
            var startedAt = engine.Now;
            var startClock = Stopwatch.StartNew();
            await engine.Jobs.StartAsync(jobName, cancellationToken);
            var startCall = startClock.Elapsed.TotalSeconds;
            var finished = await _fleet.SendAsync(_ => new ClientCommand(ClientCommands.Finish), cancellationToken);
            var firstWork = finished.Select(f => f.FirstWorkAt).Where(t => t is not null).Min();
            var to = from is null ? null : ManagerProbe.Read(managerId);
            var cpu = to is null ? (double?)null : to.CpuSeconds - from!.CpuSeconds;
            while ((await engine.Jobs.GetStatusAsync(new JobStatusQuery(jobName, Statuses: Unfinished), cancellationToken)).Count > 0)
            {
                await Task.Delay(StatusPollInterval, cancellationToken);
            }
            var outcome = await engine.Jobs.GetStatusAsync(new JobStatusQuery(jobName), cancellationToken);
            var peak = to is null ? (long?)null : ManagerProbe.Read(managerId).PeakRssKib;
            var lastResult = outcome.Max(s => s.CompletedAt)?.ToUniversalTime() ?? throw new InvalidOperationException($"Job {jobName} ended with no completion time.");
            _secondJob = new SecondJobResult(Round((lastResult - startedAt).TotalSeconds), outcome.Count(s => s.Status == TargetStatus.Succeeded),
                RequestBreakdown.Sum(finished.Select(f => f.Requests!)).CountAll(), cpu is { } c ? Round(c, 2) : null,
                PeakRssMB: peak is { } kib ? Round(kib / 1024.0, 1) : null, StartCallSeconds: Round(startCall),
                SecondsToFirstWork: firstWork is { } w ? Round((w - startedAt).TotalSeconds) : null);
            progress.WriteLine($"[{agentCount}] second job: last result {_secondJob.SecondsToLastResult:0.000} s after execution, {_secondJob.Succeeded} succeeded, "
                + $"{_secondJob.Requests} requests; manager {_secondJob.ManagerCpuSeconds?.ToString("0.00", CultureInfo.InvariantCulture) ?? "?"} CPU s"
                + (_secondJob.PeakRssMB is { } roundPeak ? $", peak RSS so far {roundPeak:0} MB" : "")
                + $"; the execution recorded in {startCall:0.000} s, first work {_secondJob.SecondsToFirstWork:0.000} s after execution");
        }

        /// <summary>The CPU seconds of the client processes together; null where there is no /proc.</summary>
        private double? ClientCpuSeconds() =>
            ManagerProbe.Available && _fleet is not null ? _fleet.ProcessIds.Sum(id => ManagerProbe.Read(id).CpuSeconds) : null;

        /// <summary>The PostgreSQL server's processes now; null on SQLite or where there is no /proc.</summary>
        private ClusterSample? ReadServer() => postgres is not null && ManagerProbe.Available ? PostgresProbe.Read(postgres.DataDirectory) : null;

        /// <summary>Stops the client processes and the manager, reads the manager's log, drops the round's database and deletes its folder; never throws.</summary>
        public async Task CleanUpAsync()
        {
            if (_fleet is not null)
            {
                try
                {
                    await _fleet.DisposeAsync();
                }
                catch (Exception e)
                {
                    progress.WriteLine($"[{agentCount}] stopping the client processes failed: {e.Message}");
                }
            }
            if (_manager is not null)
            {
                try
                {
                    await _manager.StopAsync(TimeSpan.FromSeconds(20));
                }
                catch (Exception e)
                {
                    progress.WriteLine($"[{agentCount}] stopping the manager failed: {e.Message}");
                }
                _manager.Dispose();
            }
            _serverLog = ServerLog.Summarize(Path.Combine(Home, "logs"));
            // Pooled connections keep the database file open; release them before deleting it.
            SqliteConnection.ClearAllPools();
            if (postgres is not null)
            {
                _databaseServerLog = ServerLog.SummarizePostgres(postgres.LogPath, _databaseLogStart);
                _databaseServerLogDuringJob = _databaseLogAtJob is { } from ? ServerLog.SummarizePostgres(postgres.LogPath, from, _databaseLogAtJobEnd) : null;
            }
            if (postgres is not null && _database is not null)
            {
                try
                {
                    PostgresServer.DropDatabase(postgres.ConnectionString, _database.ConnectionString);
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                {
                    progress.WriteLine($"[{agentCount}] could not drop the database ({_database.Describe()}): {e.Message}");
                }
            }
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                progress.WriteLine($"[{agentCount}] could not delete {_root}: {e.Message}");
            }
        }

        public RoundResult ToResult()
        {
            var requests = _requests?.CountAll() ?? 0;
            var ratio = _secondsToLastResult is { } a && _referenceSeconds is > 0 and var b ? Round(a / b, 1) : (double?)null;
            return new RoundResult(
                agentCount,
                _secondsToLastResult,
                _secondsObserved,
                _secondsToFirstWork,
                _startCallSeconds,
                requests,
                _requests,
                _secondsToLastResult is > 0 and var seconds ? Round(agentCount / seconds) : null,
                _secondsToLastResult is > 0 and var s2 ? Round(requests / s2) : null,
                _referenceRequests,
                _referenceSeconds,
                _referenceSeconds is > 0 and var r ? Round(_referenceRequests / r) : null,
                ratio,
                _succeeded,
                _failed,
                _registration,
                _threadPoolThreadsMax,
                _serverLog,
                Error,
                _fleet?.Processes ?? 0,
                _loadAverage,
                _resources,
                TargetCheck.From(ratio, _registration, _resources, _secondJob),
                _databaseServer,
                _databaseServerLog,
                _databaseServerLogDuringJob,
                _clients,
                _secondJob is { } second && _referenceSeconds is > 0 and var floor ? second with { Ratio = Round(second.SecondsToLastResult / floor, 1) } : _secondJob);
        }
    }

    private static double Round(double value, int digits = 3) => Math.Round(value, digits);
}
