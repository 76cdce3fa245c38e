using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

// What the cmdlets send to the services. Defaults and limits that a cmdlet shows in its parameters live here, with
// the request they belong to, so that the cmdlet and every implementation of the service read the same numbers.

/// <summary>What New-DistPackage asks for.</summary>
public sealed record NewPackageRequest(
    string Name,
    string Version,
    string Path,
    string InstallCommand,
    IReadOnlyList<string>? InstallArguments = null,
    IReadOnlyList<int>? SuccessExitCodes = null,
    long? SegmentSize = null,
    string? Description = null,
    int? InstallTimeoutSeconds = null,
    InstallConditions? InstallConditions = null,
    DateTime? InstallAt = null,
    DateTime? ExpiresAt = null,
    IReadOnlyList<int>? RebootExitCodes = null,
    IReadOnlyList<int>? RetryExitCodes = null)
{
    /// <summary>The segment size when none is given: small enough to resume cheaply, large enough to keep requests few.</summary>
    public const long DefaultSegmentSize = 1024 * 1024;
    public const long MinSegmentSize = 4 * 1024;
    /// <summary>The largest segment agents and relays accept in a manifest (<see cref="ProtocolLimits.MaxSegmentSize"/>).</summary>
    public const long MaxSegmentSize = ProtocolLimits.MaxSegmentSize;
    public const int DefaultInstallTimeoutSeconds = 3600;
}

/// <summary>How far packaging has come: files done of all, bytes done of all, the file at hand, and what is being done to it.</summary>
public sealed record PackagingProgress(int FilesDone, int FileCount, long BytesDone, long TotalBytes, string CurrentFile, PackagingStep Step = PackagingStep.Storing);

/// <summary>
/// What packaging is doing: storing the files (in the engine on this computer); or, in a session connected to a manager
/// elsewhere, hashing them here and then uploading them.
/// </summary>
public enum PackagingStep
{
    Storing,
    Hashing,
    Uploading,
}

/// <summary>What New-DistJob asks for.</summary>
public sealed record NewJobRequest(
    string Name,
    string PackageName,
    string? PackageVersion,
    IReadOnlyList<string> Destinations,
    JobType Type = JobType.Install,
    DateTime? DistributeAt = null,
    string? Description = null,
    DestinationType DestinationType = DestinationType.Host,
    int RetryLimit = 0,
    InstallConditions? InstallConditions = null,
    DateTime? InstallAt = null,
    double SegmentIntervalSeconds = 0,
    int BandwidthLimitKBps = 0,
    IReadOnlyList<string>? HostGroups = null,
    bool RebootAfter = false,
    bool ShutdownAfter = false,
    bool WakeOnLan = false,
    int WakeLeadMinutes = 0,
    bool PreDownload = false)
{
    /// <summary>The longest pause between two segments.</summary>
    public const double MaxSegmentIntervalSeconds = 3600;

    /// <summary>The earliest a job wakes its targets before its execution time (a day).</summary>
    public const int MaxWakeLeadMinutes = 1440;
}

/// <summary>
/// What Start-DistHost asks: wake the hosts whose names match <paramref name="NamePattern"/> (Wake-on-LAN), at
/// <paramref name="BroadcastAddress"/> (null: the broadcast address of each host's last reported network) on <paramref name="Port"/>.
/// </summary>
public sealed record WakeHostsRequest(string NamePattern, string? BroadcastAddress = null, int Port = 9);

/// <summary>
/// What Stop-DistHost asks: shut down the hosts whose names match <paramref name="NamePattern"/> once no install or
/// transfer runs there, <paramref name="GraceSeconds"/> after that at the earliest.
/// </summary>
public sealed record StopHostsRequest(string NamePattern, int GraceSeconds = StopHostsRequest.DefaultGraceSeconds)
{
    /// <summary>The grace when none is given.</summary>
    public const int DefaultGraceSeconds = 60;

    /// <summary>The longest grace (an hour; an order stands no longer).</summary>
    public const int MaxGraceSeconds = 3600;
}

/// <summary>The outcome of executing or re-executing a job.</summary>
public sealed record JobExecutionResult(string JobName, int ExecutionId, int TargetCount, DateTime? ExecuteAt, IReadOnlyList<string> HostNames);

/// <summary>Filters for Get-DistJobStatus; each is optional.</summary>
public sealed record JobStatusQuery(string? JobName = null, string? HostName = null, IReadOnlyList<TargetStatus>? Statuses = null);

/// <summary>What Suspend-DistJob, Resume-DistJob and Stop-DistJob do to a job's targets.</summary>
public enum JobControlAction
{
    Suspend,
    Resume,
    Cancel,
}

/// <summary>
/// Filters for Get-DistHost: a name pattern, the relay whose lower hosts to list (direct, or every level with Recurse), and
/// the host group (its hosts as a job reaches them: nested groups included) or ID group (its current members) to list.
/// </summary>
public sealed record HostQuery(string? NamePattern = null, string? HigherSystem = null, bool Recurse = false, string? HostGroup = null, string? IdGroup = null);

/// <summary>
/// What New-DistEnrollmentToken asks for: a token that admits clients (or, with <see cref="Relay"/>, relays and nothing
/// else), until <see cref="ExpiresIn"/> has passed and for at most <see cref="MaxUses"/> registrations (null: no limit).
/// With <see cref="RequireApproval"/>, a host it admits is pending (no work, no group) until Approve-DistHost.
/// </summary>
public sealed record NewEnrollmentTokenRequest(string? Description = null, TimeSpan? ExpiresIn = null, int? MaxUses = null, bool Relay = false,
    bool RequireApproval = false)
{
    /// <summary>The longest a token may be valid for: ten years.</summary>
    public static readonly TimeSpan MaxExpiresIn = TimeSpan.FromDays(3650);
}
