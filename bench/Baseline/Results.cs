using System.Runtime;
using System.Runtime.InteropServices;

namespace JP1Dist.Bench.Baseline;

/// <summary>The whole run: how it was set up, the machine, and one result per agent count.</summary>
public sealed record BaselineReport(
    string Benchmark,
    string Manager,
    string Database,
    string Build,
    int Parallelism,
    int LongPollWaitSeconds,
    int PackageBytes,
    MachineInfo Machine,
    IReadOnlyList<RoundResult> Rounds);

/// <summary>Where the figures were measured; they mean little without it.</summary>
public sealed record MachineInfo(int ProcessorCount, string OS, string Framework, string Architecture, bool ServerGc, string GcLatencyMode)
{
    /// <summary>This process's machine and runtime.</summary>
    public static MachineInfo Current() => new(
        Environment.ProcessorCount,
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        RuntimeInformation.ProcessArchitecture.ToString(),
        GCSettings.IsServerGC,
        GCSettings.LatencyMode.ToString());
}

/// <summary>
/// One round: N agents, one job for all of them, from executing the job to the last result in the database,
/// and the same number of requests against the ping endpoint as a reference.
/// </summary>
public sealed record RoundResult(
    int Agents,
    double? SecondsToLastResult,
    double? SecondsObservedByPolling,
    double? SecondsToFirstWork,
    double? StartCallSeconds,
    long Requests,
    RequestBreakdown? RequestBreakdown,
    double? ResultsPerSecond,
    double? RequestsPerSecond,
    long ReferenceRequests,
    double? ReferenceSeconds,
    double? ReferenceRequestsPerSecond,
    double? Ratio,
    int Succeeded,
    int Failed,
    RegistrationResult? Registration,
    int ThreadPoolThreadsMax,
    ServerLogSummary? ServerLog,
    string? Error,
    int ClientProcesses = 0,
    string? LoadAverageAtJob = null,
    ManagerResources? ManagerResources = null,
    TargetCheck? Targets = null,
    DatabaseServerResources? DatabaseServer = null,
    ServerLogSummary? DatabaseServerLog = null,
    ServerLogSummary? DatabaseServerLogDuringJob = null,
    ClientResources? Clients = null,
    SecondJobResult? SecondJob = null);

/// <summary>
/// A second job for the same agents on the same manager, after the first: its code compiled and its caches warm, as a
/// manager that has run for a while runs every job (the first job's seconds include the JIT of its code). The ratio is
/// against the round's floor. <see cref="PeakRssMB"/> is the manager's peak from its start to the end of this job.
/// </summary>
public sealed record SecondJobResult(double SecondsToLastResult, int Succeeded, long Requests, double? ManagerCpuSeconds, double? Ratio = null,
    double? PeakRssMB = null, double? StartCallSeconds = null, double? SecondsToFirstWork = null);

/// <summary>
/// The client processes that hold the simulated agents, from /proc: their CPU during the job and during the ping reference.
/// They share the machine's cores with the manager, so a job's seconds are theirs too; on a real network each agent runs on
/// its own computer.
/// </summary>
public sealed record ClientResources(double JobCpuSeconds, double JobCpuPercentOfOneCore, double ReferenceCpuSeconds);

/// <summary>
/// The manager process from /proc: CPU and memory with every agent connected and idle in its long poll (over a window of
/// one long-poll wait, so every agent's poll ends and is sent again once in it), CPU during the job, and its peak memory;
/// its CPU during the floor's pings, and per request in the job and in the floor (what the manager spends on a request of
/// the protocol against a trivial one, less dependent on the machine's load than the seconds).
/// </summary>
public sealed record ManagerResources(
    int ProcessId,
    string? ManagerBuild,
    double IdleWindowSeconds,
    double IdleCpuSeconds,
    double IdleCpuPercentOfOneCore,
    double IdleRssMB,
    int IdleThreads,
    int IdleFileDescriptors,
    double? JobCpuSeconds,
    double? JobCpuPercentOfOneCore,
    double? PeakRssMB,
    double? RegistrationCpuSeconds = null,
    double? IdleKernelCpuPercentOfOneCore = null,
    double? ReferenceCpuSeconds = null,
    double? JobCpuMicrosecondsPerRequest = null,
    double? ReferenceCpuMicrosecondsPerRequest = null);

/// <summary>
/// The PostgreSQL server's processes (read by PostgresProbe), which the manager's figures leave out: CPU while the
/// agents registered, over the same idle window and job phase as the manager's, and their proportional memory (Pss)
/// at the end of the idle window and of the job.
/// </summary>
public sealed record DatabaseServerResources(
    double RegistrationCpuSeconds,
    double IdleCpuSeconds,
    double IdleCpuPercentOfOneCore,
    double IdlePssMB,
    int IdleProcesses,
    double JobCpuSeconds,
    double JobCpuPercentOfOneCore,
    double JobEndPssMB,
    int JobEndProcesses);

/// <summary>The targets of the 10,000-agent benchmark, each met or not (null: not measured in this round).</summary>
public sealed record TargetCheck(bool? JobWithin3xFloor, bool? RegistrationAtLeast1000PerSecond, bool? RssUnder500MB, bool? IdleCpuUnder5PercentOfOneCore)
{
    public static TargetCheck From(double? ratio, RegistrationResult? registration, ManagerResources? manager, SecondJobResult? secondJob = null) => new(
        ratio is { } r ? r <= 3 : null,
        registration is { } g ? g.PerSecond >= 1000 : null,
        manager is { } m ? m.IdleRssMB < 500 && (m.PeakRssMB ?? 0) < 500 && (secondJob?.PeakRssMB ?? 0) < 500 : null,
        manager is { } c ? c.IdleCpuPercentOfOneCore < 5 : null);
}

/// <summary>The job phase's requests by kind, counted by the simulated agents.</summary>
public sealed record RequestBreakdown(long Polls, long EmptyPolls, long Content, long Reports, long ReportsNotAccepted, long Retries)
{
    public static RequestBreakdown From(RequestCounters c) => new(c.Polls, c.EmptyPolls, c.Contents, c.Reports, c.ReportsNotAccepted, c.Retries);

    /// <summary>The counts of several processes added up.</summary>
    public static RequestBreakdown Sum(IEnumerable<RequestBreakdown> parts) => parts.Aggregate(new RequestBreakdown(0, 0, 0, 0, 0, 0),
        (a, b) => new(a.Polls + b.Polls, a.EmptyPolls + b.EmptyPolls, a.Content + b.Content, a.Reports + b.Reports, a.ReportsNotAccepted + b.ReportsNotAccepted, a.Retries + b.Retries));

    /// <summary>The counts since an earlier reading of the same counters.</summary>
    public RequestBreakdown Minus(RequestBreakdown earlier) => new(Polls - earlier.Polls, EmptyPolls - earlier.EmptyPolls, Content - earlier.Content,
        Reports - earlier.Reports, ReportsNotAccepted - earlier.ReportsNotAccepted, Retries - earlier.Retries);

    /// <summary>Every request made, retried attempts included (as <see cref="RequestCounters.Total"/>, without registrations).</summary>
    public long CountAll() => Polls + Content + Reports + Retries;
}

/// <summary>
/// How long registering the agents took (before the measured phase), the manager's CPU time over it (utime + stime; null
/// without /proc) and per host, and the load average when it began.
/// </summary>
public sealed record RegistrationResult(int Agents, double Seconds, double PerSecond, long Retries, double? ManagerCpuSeconds = null, double? ManagerCpuMsPerHost = null,
    string? LoadAverage = null);

/// <summary>Warnings and errors the manager logged during the round, with a few distinct examples.</summary>
public sealed record ServerLogSummary(int Warnings, int Errors, IReadOnlyList<string> Samples);
