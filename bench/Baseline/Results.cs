using System.Runtime;
using System.Runtime.InteropServices;

namespace JP1Dist.Bench.Baseline;

/// <summary>The whole run: how it was set up, the machine, and one result per agent count.</summary>
public sealed record BaselineReport(
    string Benchmark,
    string Manager,
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
    string? Error);

/// <summary>The job phase's requests by kind, counted by the simulated agents.</summary>
public sealed record RequestBreakdown(long Polls, long EmptyPolls, long Content, long Reports, long ReportsNotAccepted, long Retries)
{
    public static RequestBreakdown From(RequestCounters c) => new(c.Polls, c.EmptyPolls, c.Contents, c.Reports, c.ReportsNotAccepted, c.Retries);
}

/// <summary>How long registering the agents took (before the measured phase).</summary>
public sealed record RegistrationResult(int Agents, double Seconds, double PerSecond, long Retries);

/// <summary>Warnings and errors the manager logged during the round, with a few distinct examples.</summary>
public sealed record ServerLogSummary(int Warnings, int Errors, IReadOnlyList<string> Samples);
