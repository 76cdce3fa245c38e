using JP1Dist.Bench.Baseline;

namespace JP1Dist.Bench.Soak;

/// <summary>The whole run: how it was set up, the machine, what the chaos did, the checks and the figures (null where the run did not get that far).</summary>
public sealed record SoakReport(
    string Benchmark,
    string Setup,
    string Build,
    MachineInfo Machine,
    int Seed,
    string Repeat,
    SoakAgents Agents,
    SoakJobs Jobs,
    SoakChaos Chaos,
    SoakTimes Times,
    SoakChecks? Checks,
    IReadOnlyDictionary<string, int> TargetsByStatus,
    IReadOnlyDictionary<string, int> ServedBy,
    int TargetsOnLaterAttempts,
    AgentLogSummary? AgentLogs,
    IReadOnlyDictionary<string, ServerLogSummary?> NodeLogs,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> NodeLogKinds,
    IReadOnlyList<PlannedJob> PlannedJobs,
    IReadOnlyList<PlannedKill> PlannedKills,
    string? Error);

/// <summary>
/// The agents: how many, where (and how many of those meant for the relay registered with the manager standing in, because
/// the relay could not serve their first registration in time), how long they took to register, and the memory they held
/// at the end (Linux PSS: shared pages counted in shares).
/// </summary>
public sealed record SoakAgents(
    int Total,
    int BelowRelay,
    int OnManager,
    int BelowRelayRegisteredWithManager,
    double? RegistrationSeconds,
    double? AgentsPssMegabytes,
    double? PssPerAgentMegabytes,
    double? ManagerPssMegabytes,
    double? RelayPssMegabytes);

/// <summary>The jobs: each for every agent, large (payload at the cap) or small, some failing on purpose on one host in ten.</summary>
public sealed record SoakJobs(int Jobs, int Large, int Small, int FailingOnPurpose, int Targets, long LargePackageBytes, long SegmentSize, int CapKBps, double InstallSeconds);

/// <summary>What the chaos did to one node.</summary>
public sealed record NodeChaos(string Node, int Kills, int Starts, int StartsRefused, double SecondsDown);

/// <summary>The chaos phase: its length, what it did to each node, and how long both were down at once.</summary>
public sealed record SoakChaos(double Minutes, int Kills, IReadOnlyList<NodeChaos> Nodes, double SecondsBothDown);

/// <summary>
/// Seconds. <see cref="SecondsToAllFinalAfterChaos"/>: from the moment the chaos ended and both nodes ran again to the
/// status query that first found every target final; <see cref="LastResultAfterChaosSeconds"/>: the latest CompletedAt the
/// manager recorded, against the same moment (negative when the last result came before the chaos ended).
/// </summary>
public sealed record SoakTimes(
    double? ChaosSeconds,
    double? SecondsToAllFinalAfterChaos,
    double? LastResultAfterChaosSeconds,
    double SettleBoundSeconds,
    double? WholeRunSeconds);

/// <summary>The checks, each a count that must be zero (but Installs and TargetsFinal), with a few examples of what failed.</summary>
public sealed record SoakChecks(
    int Targets,
    int TargetsFinal,
    int Installs,
    int NotFinal,
    int DoubleInstalls,
    int LostResults,
    int ResultsWithoutInstall,
    int UnexpectedOutcomes,
    int InstallsWithoutTarget,
    int NodesStopped,
    IReadOnlyList<string> Samples)
{
    /// <summary>Whether every check holds.</summary>
    public bool Passed => NotFinal == 0 && DoubleInstalls == 0 && LostResults == 0 && ResultsWithoutInstall == 0 && UnexpectedOutcomes == 0
        && InstallsWithoutTarget == 0 && NodesStopped == 0;
}
