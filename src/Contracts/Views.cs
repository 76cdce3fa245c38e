using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

// What the engine hands to the cmdlets and the pipeline. Each has a view in JP1Dist.Format.ps1xml.

/// <summary>A registered package, as Get-DistPackage shows it; ExpiresAt is until when relays keep it (null: no expiry).</summary>
public sealed record DistPackage(
    string Name,
    string Version,
    string? Description,
    string InstallCommand,
    IReadOnlyList<string> InstallArguments,
    IReadOnlyList<int> SuccessExitCodes,
    int InstallTimeoutSeconds,
    long SegmentSize,
    long TotalBytes,
    int FileCount,
    int SegmentCount,
    DateTime CreatedAt,
    int Id,
    Protocol.InstallConditions? InstallConditions = null,
    DateTime? InstallAt = null,
    DateTime? ExpiresAt = null,
    IReadOnlyList<int>? RebootExitCodes = null,
    IReadOnlyList<int>? RetryExitCodes = null)
{
    /// <summary>The arguments, read as "a, b" as text (Export-Csv), a list for scripts.</summary>
    public IReadOnlyList<string> InstallArguments { get; init => field = DistList.Of(value); } = DistList.Of(InstallArguments);

    /// <summary>The exit codes that mean success, read as "0, 3010" as text.</summary>
    public IReadOnlyList<int> SuccessExitCodes { get; init => field = DistList.Of(value); } = DistList.Of(SuccessExitCodes);
}

/// <summary>A registered host, as Get-DistHost shows it: HigherSystem is its relay's name or "(manager)", Depth 0 is directly under the manager.</summary>
public sealed record DistHost(
    string Name,
    Guid Id,
    string OS,
    string OSVersion,
    string Architecture,
    IReadOnlyList<string> Addresses,
    string? MacAddress,
    string AgentVersion,
    DateTime RegisteredAt,
    DateTime LastSeen,
    HostKind Kind = HostKind.Client,
    string HigherSystem = DistHost.ManagerHigherSystem,
    Guid? HigherSystemId = null,
    int Depth = 0,
    string? RelayUrl = null,
    string? PowerStatus = null)
{
    /// <summary>The addresses, read as "a, b" as text (Export-Csv), a list for scripts.</summary>
    public IReadOnlyList<string> Addresses { get; init => field = DistList.Of(value); } = DistList.Of(Addresses);

    /// <summary>What HigherSystem says for a host directly under the manager.</summary>
    public const string ManagerHigherSystem = "(manager)";
}

/// <summary>
/// An enrollment token. Token (the text an agent presents) is shown once, when the token is created; listings show
/// everything else. Status is Active, Expired or UsedUp. RequireApproval: the hosts it admits wait for Approve-DistHost.
/// </summary>
public sealed record DistEnrollmentToken(
    int Id,
    string? Token,
    string? Description,
    DateTime CreatedAt,
    DateTime? ExpiresAt = null,
    int? MaxUses = null,
    int UseCount = 0,
    bool Relay = false,
    DateTime? LastUsedAt = null,
    string Status = "Active",
    bool RequireApproval = false);

/// <summary>
/// A registration waiting for approval, as Get-DistHost -Pending shows it: the host it would become (its id is the one the
/// agent holds), the facts it reported, the token that admitted it, when it asked, and, for a computer registering under an
/// enrolled name without that host's credential, the host it would replace (Approve-DistHost -Replace).
/// </summary>
public sealed record DistPendingHost(
    string Name,
    Guid Id,
    HostKind Kind,
    string OS,
    string OSVersion,
    string Architecture,
    IReadOnlyList<string> Addresses,
    string? MacAddress,
    string AgentVersion,
    DateTime RequestedAt,
    int? TokenId,
    string? TokenDescription,
    string HigherSystem,
    bool ReplacesHost)
{
    /// <summary>"Replace" when approving takes over the enrolled host of the same name, else "New".</summary>
    public string Approval => ReplacesHost ? "Replace" : "New";
}

/// <summary>
/// A saved job, as Get-DistJob shows it; Targets counts its (job, host) targets by status, as a deployment summary does
/// (empty before the job is first executed).
/// </summary>
public sealed record DistJob(
    string Name,
    string PackageName,
    string PackageVersion,
    JobType Type,
    IReadOnlyList<string> Destinations,
    DateTime? DistributeAt,
    string? Description,
    DateTime CreatedAt,
    int ExecutionCount,
    DateTime? LastExecutedAt,
    int Id,
    DestinationType DestinationType = DestinationType.Host,
    int RetryLimit = 0,
    Protocol.InstallConditions? InstallConditions = null,
    DateTime? InstallAt = null,
    double SegmentIntervalSeconds = 0,
    int BandwidthLimitKBps = 0,
    bool RebootAfter = false,
    bool ShutdownAfter = false,
    bool WakeOnLan = false,
    int WakeLeadMinutes = 0,
    bool PreDownload = false)
{
    /// <summary>The destinations, read as "a, b" where a value is turned into text (Export-Csv), a list for scripts.</summary>
    public IReadOnlyList<string> Destinations { get; init => field = DistList.Of(value); } = DistList.Of(Destinations);

    /// <summary>
    /// The job's targets counted by status (every count 0 before the first execution). The engine fills it in however it
    /// keeps the counts; a caller only reads it.
    /// </summary>
    public DistJobTargetCounts Targets { get; init; } = DistJobTargetCounts.None;
}

/// <summary>
/// How many of a job's (job, host) targets stand where, as a deployment summary counts them: Succeeded (Succeeded,
/// SucceededRebootRequired, StoredOnRelay), Failed, InProgress (Queued, Transferring, Transferred, Installing), Waiting
/// (Waiting, Suspended), Available (offered, the user has not chosen), ConditionNotMet and Canceled; Pending is what has no
/// outcome yet (Waiting + InProgress + Available). Which status falls in which count is decided here only, whoever counts.
/// </summary>
public sealed record DistJobTargetCounts(int Total, int Succeeded, int Failed, int InProgress, int Waiting, int Available, int ConditionNotMet, int Canceled)
{
    /// <summary>A job with no targets.</summary>
    public static readonly DistJobTargetCounts None = new(0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>Targets with no outcome yet: waiting for their time or a manager, under way, or offered to a user who has not chosen.</summary>
    public int Pending => Waiting + InProgress + Available;

    /// <summary>The counts from the number of targets in each status.</summary>
    public static DistJobTargetCounts From(IEnumerable<KeyValuePair<TargetStatus, int>> byStatus)
    {
        ArgumentNullException.ThrowIfNull(byStatus);
        int total = 0, succeeded = 0, failed = 0, inProgress = 0, waiting = 0, available = 0, notMet = 0, canceled = 0;
        foreach (var (status, count) in byStatus)
        {
            total += count;
            switch (status)
            {
                case TargetStatus.Succeeded or TargetStatus.SucceededRebootRequired or TargetStatus.StoredOnRelay: succeeded += count; break;
                case TargetStatus.Failed: failed += count; break;
                case TargetStatus.Queued or TargetStatus.Transferring or TargetStatus.Transferred or TargetStatus.Installing: inProgress += count; break;
                case TargetStatus.Waiting or TargetStatus.Suspended: waiting += count; break;
                case TargetStatus.Available: available += count; break;
                case TargetStatus.ConditionNotMet: notMet += count; break;
                case TargetStatus.Canceled: canceled += count; break;
                default: throw new ArgumentOutOfRangeException(nameof(byStatus), status, "A target status no count takes.");
            }
        }
        return new(total, succeeded, failed, inProgress, waiting, available, notMet, canceled);
    }

    /// <summary>"3 succeeded, 1 failed, 2 pending", the counts that are not zero (CSV cells, Format-List).</summary>
    public override string ToString()
    {
        var parts = new[]
        {
            (Succeeded, "succeeded"), (Failed, "failed"), (InProgress, "in progress"), (Waiting, "waiting"),
            (Available, "available"), (ConditionNotMet, "condition not met"), (Canceled, "canceled"),
        }.Where(p => p.Item1 > 0).Select(p => $"{p.Item1} {p.Item2}").ToList();
        return parts.Count == 0 ? "no targets" : string.Join(", ", parts);
    }
}

/// <summary>
/// A read-only list whose text is its items joined by ", ", so a record's list reads "a, b" where PowerShell turns a value
/// into text (Export-Csv, string expansion of the property) instead of its type name; it stays a list for scripts and JSON.
/// </summary>
public sealed class DistList<T> : System.Collections.ObjectModel.ReadOnlyCollection<T>
{
    public DistList(IList<T> items) : base(items)
    {
    }

    public override string ToString() => string.Join(", ", this);
}

/// <summary>Makes <see cref="DistList{T}"/>s.</summary>
public static class DistList
{
    /// <summary>The items as a <see cref="DistList{T}"/> (the same one when it already is).</summary>
    public static DistList<T> Of<T>(IEnumerable<T>? items) => items as DistList<T> ?? new DistList<T>((items ?? []).ToList());
}

/// <summary>What Wake-on-LAN did for one host.</summary>
public enum WakeOutcome
{
    /// <summary>This node (the manager, or the session's engine) sent the magic packet.</summary>
    Sent,

    /// <summary>The host is below a relay: the relay was asked (a signed order in its work snapshot) to send the packet on its own network.</summary>
    AskedOfRelay,

    /// <summary>No MAC address is known for the host (its agent never reported one): nothing was sent.</summary>
    NoMacAddress,

    /// <summary>Sending the packet failed here (no route to the address, for example).</summary>
    SendFailed,
}

/// <summary>
/// What Start-DistHost (or a job's -WakeOnLan) did for one host: the outcome, the MAC address and where the packet went
/// (address and port), which node sends it ("(manager)" or a relay's name), when, and a message saying so.
/// </summary>
public sealed record DistHostWake(
    string HostName,
    WakeOutcome Outcome,
    string? MacAddress,
    string? Address,
    int Port,
    string SentBy,
    DateTime At,
    string Message);

/// <summary>Where a shutdown Stop-DistHost asked for stands.</summary>
public enum PowerOrderState
{
    /// <summary>Recorded; the host's agent has not taken it yet (it is off, or has not asked for work since).</summary>
    Requested,

    /// <summary>The agent took it: it shuts the computer down once no install or transfer runs, after the grace.</summary>
    Asked,

    /// <summary>The agent ran the shutdown command.</summary>
    Done,

    /// <summary>The agent refused it (it did not verify against the manager's key there).</summary>
    Refused,

    /// <summary>No agent took it within its lifetime (an hour): it is not acted on any more.</summary>
    Expired,
}

/// <summary>
/// A shutdown asked of one host outside any job (Stop-DistHost): where it stands, when it was requested, taken by the
/// agent and done, the grace, and a message saying so.
/// </summary>
public sealed record DistHostPower(
    string HostName,
    string Action,
    PowerOrderState State,
    int GraceSeconds,
    DateTime RequestedAt,
    DateTime? AskedAt,
    DateTime? DoneAt,
    string Message,
    Guid OrderId);

/// <summary>
/// The status of one (job, host) pair, as Get-DistJobStatus shows it; StoredUntil is the expiry of a StoredOnRelay target;
/// ServedBy is the node the host last reported to for this attempt: a relay's name, or "(manager)" (null before its first report).
/// </summary>
public sealed record DistJobStatus(
    string JobName,
    string HostName,
    TargetStatus Status,
    int? ExitCode,
    string? Message,
    int Attempt,
    DateTime? QueuedAt,
    DateTime? StartedAt,
    DateTime? CompletedAt,
    DateTime UpdatedAt,
    long BytesTransferred,
    string? Output,
    int JobId,
    Guid HostId,
    DateTime AddedAt,
    int SegmentsTransferred = 0,
    int SegmentCount = 0,
    long TotalBytes = 0,
    DateTime? InstallAt = null,
    DateTime? StoredUntil = null,
    string? ServedBy = null)
{
    /// <summary>Transfer progress as "segments/total (percent)".</summary>
    public string Progress => SegmentCount == 0 ? "" : $"{SegmentsTransferred}/{SegmentCount} ({(TotalBytes == 0 ? 100 : BytesTransferred * 100 / TotalBytes)}%)";

    /// <summary>The message a waiting target carries while no manager runs (Wait-DistJob warns of it).</summary>
    public const string NoManagerMessage = "No manager is running: the job waits until one starts (Start-DistManager or 'jp1dist manager').";

    /// <summary>True when the target has an outcome.</summary>
    public bool IsFinal => Status.IsFinal();
}

/// <summary>
/// What a wait for jobs' status answers (Wait-DistJob): the targets of each job named, in the order named, and the version of
/// all of it, which changes whenever anything the status shows changes; the next wait passes it back to wait for a change.
/// </summary>
public sealed record DistJobStatusChange(IReadOnlyList<IReadOnlyList<DistJobStatus>> Jobs, string Version)
{
    /// <summary>The longest one wait lasts: a wait asked for longer answers the state at this bound, and the caller asks again.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A manager process that announced itself in the database. CertificatePin is the pin of the certificate it serves HTTPS
/// with (the SHA-256 of its public key, 64 hex digits), what agents are told to expect; null for plain HTTP.
/// </summary>
public sealed record DistManagerInfo(string Url, int ProcessId, string MachineName, DateTime StartedAt, DateTime HeartbeatAt, bool IsAlive, string? CertificatePin = null);

/// <summary>
/// Which manager a session's cmdlets act on, as Connect-DistManager and Get-DistManager -Connection show it: the engine
/// in-process on a data folder (Remote false, Location the folder), or a manager's admin API (Location its URL) reached
/// through Connect-DistManager or the JP1DIST_MANAGER_URI variable (Via), as the access key's Principal with its Role, the
/// manager's certificate held to CertificatePin (null: the operating system's trust store).
/// </summary>
public sealed record DistConnection(bool Remote, string Location, string Via, string? Principal = null, DistRole? Role = null, string? CertificatePin = null);
