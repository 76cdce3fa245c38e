using JP1Dist.Bench.Baseline;

namespace JP1Dist.Bench.Relays;

/// <summary>The whole run: how it was set up, the machine, and every figure measured (null where the run did not get that far).</summary>
public sealed record RelaysReport(
    string Benchmark,
    string Setup,
    string Build,
    int Clients,
    int Relays,
    long PackageBytes,
    long SegmentSize,
    int Segments,
    int Parallelism,
    int LongPollWaitSeconds,
    MachineInfo Machine,
    RelaysTimes Times,
    RelaysBytes? Bytes,
    DirectFetchReference? Reference,
    double? Ratio,
    int Succeeded,
    int NotSucceeded,
    RegistrationResult? Registration,
    RequestBreakdown? Requests,
    IReadOnlyDictionary<string, RequestTiming> ClientRequestTimes,
    IReadOnlyDictionary<string, long>? ManagerRequestsSinceStart,
    IReadOnlyDictionary<string, long>? RelayRequestsSinceStart,
    string Scenario,
    double? ManagerRelayPollsWoken,
    int ThreadPoolThreadsMax,
    IReadOnlyDictionary<string, ServerLogSummary?> Logs,
    string? Error);

/// <summary>
/// Seconds from just before executing the job (engine clock for the recorded times, a stopwatch for the client side).
/// </summary>
public sealed record RelaysTimes(
    double? SecondsToLastResult,
    double? SecondsObservedByPolling,
    double? StartCallSeconds,
    double? SecondsToFirstWork,
    double? SecondsToLastWork,
    double? SecondsToLastClientDone,
    double? SecondsToFirstResult,
    double? ResultsPerSecond,
    double? ClientMegabytesPerSecond);

/// <summary>
/// Content bytes served (jp1dist_content_bytes_served_total): by the manager (to the relays' caches) against package × relays,
/// and by the relays (to their clients) against package × clients.
/// </summary>
public sealed record RelaysBytes(
    long ManagerBytes,
    long PackageTimesRelays,
    double ManagerRatio,
    long RelaysBytesTotal,
    long PackageTimesClients,
    double RelaysRatio,
    IReadOnlyList<long> PerRelay);

/// <summary>The same clients fetching the same file by Range from a bare Kestrel static-file endpoint, each segment hashed.</summary>
public sealed record DirectFetchReference(string Server, int Clients, long Requests, long Bytes, double Seconds, double MegabytesPerSecond);
