using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Storage;

/// <summary>A registered package: immutable once written; the manifest is what agents verify.</summary>
public sealed class PackageRow
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public required string Version { get; set; }
    public string? Description { get; set; }
    public required string InstallCommand { get; set; }
    public required string InstallArgumentsJson { get; set; }
    public required string SuccessExitCodesJson { get; set; }
    public int InstallTimeoutSeconds { get; set; }
    public long SegmentSize { get; set; }
    public long TotalBytes { get; set; }
    public int FileCount { get; set; }
    public int SegmentCount { get; set; }
    /// <summary>The exact signed text of the manifest.</summary>
    public required string ManifestJson { get; set; }
    public required string ManifestSignature { get; set; }
    /// <summary>The fingerprint of the key that made <see cref="ManifestSignature"/> (null: stored before keys were recorded); serving signs again with the current key when it differs.</summary>
    public string? ManifestSigningKey { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>The install conditions (JSON of InstallConditions), also in the signed manifest; null when none.</summary>
    public string? InstallConditionsJson { get; set; }
    /// <summary>When clients install what they received (UTC), also in the signed manifest; null means at once.</summary>
    public DateTime? InstallAt { get; set; }
    /// <summary>
    /// Until when relays keep the package (UTC); null: no expiry. A management attribute, not in the signed manifest:
    /// relays learn it through the signed job settings of a transfer-to-relay work item.
    /// </summary>
    public DateTime? ExpiresAt { get; set; }
}

/// <summary>A managed computer known to the manager.</summary>
public sealed class HostRow
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public string OS { get; set; } = "";
    public string OSVersion { get; set; } = "";
    public string Architecture { get; set; } = "";
    public string AddressesJson { get; set; } = "[]";
    public string? MacAddress { get; set; }
    public string AgentVersion { get; set; } = "";
    public required string CredentialHash { get; set; }
    public DateTime RegisteredAt { get; set; }
    public DateTime LastSeen { get; set; }
    public int CpuCount { get; set; }
    public long MemoryMB { get; set; }
    /// <summary>Volumes with size and free space (JSON array of <see cref="Protocol.VolumeFact"/>).</summary>
    public string VolumesJson { get; set; } = "[]";
    /// <summary>Every MAC address of the host (JSON array); MacAddress holds the first.</summary>
    public string MacAddressesJson { get; set; } = "[]";
    /// <summary>The IPv4 networks of the host's interfaces as address/prefix (JSON array), last reported: Wake-on-LAN broadcasts to the first.</summary>
    public string NetworksJson { get; set; } = "[]";
    /// <summary>A hash of the facts last reported, so that an unchanged report changes nothing.</summary>
    public string? FactsHash { get; set; }
    public DateTime? FactsUpdatedAt { get; set; }
    /// <summary>A client, or a relay that serves lower clients (and is a client too).</summary>
    public HostKind Kind { get; set; } = HostKind.Client;
    /// <summary>The host's higher system: the relay it registered through; null means directly under the manager.</summary>
    public Guid? ParentHostId { get; set; }
    /// <summary>For a relay: the URL its lower clients use to reach it.</summary>
    public string? RelayUrl { get; set; }
}

/// <summary>One piece of software installed on a host: from the operating system's list, or installed by JP1Dist.</summary>
public sealed class HostSoftwareRow
{
    public long Id { get; set; }
    public Guid HostId { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public string Version { get; set; } = "";
    /// <summary>Where the fact comes from: JP1Dist, dpkg, rpm or Registry.</summary>
    public string Source { get; set; } = "";
    public DateTime RecordedAt { get; set; }
}

/// <summary>A named set of hosts and of other host groups (nested, without cycles).</summary>
public sealed class HostGroupRow
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public string? Description { get; set; }
    public DateTime CreatedAt { get; set; }
}

/// <summary>A host that is a direct member of a host group.</summary>
public sealed class HostGroupMemberRow
{
    public int GroupId { get; set; }
    public Guid HostId { get; set; }
    public DateTime AddedAt { get; set; }
}

/// <summary>A host group nested in another: every member of the child is reached through the parent.</summary>
public sealed class HostGroupNestingRow
{
    public int ParentId { get; set; }
    public int ChildId { get; set; }
    public DateTime AddedAt { get; set; }
}

/// <summary>An ID group: jobs executed for it reach every member, now and later. Its policy admits members automatically.</summary>
public sealed class IdGroupRow
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public string? Description { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>The policy's rules (JSON), or null when the group has no policy.</summary>
    public string? PolicyJson { get; set; }
    public DateTime? PolicyUpdatedAt { get; set; }
}

/// <summary>A host in an ID group, added by hand or by the group's policy.</summary>
public sealed class IdGroupMemberRow
{
    public int IdGroupId { get; set; }
    public Guid HostId { get; set; }
    public MembershipSource Source { get; set; }
    public DateTime AddedAt { get; set; }
}

/// <summary>A host group a job names as a destination; expanded into hosts when the job is executed.</summary>
public sealed class JobHostGroupRow
{
    public int JobId { get; set; }
    public int HostGroupId { get; set; }
}

/// <summary>A secret an agent presents once to register; only its hash is kept.</summary>
public sealed class EnrollmentTokenRow
{
    public int Id { get; set; }
    public required string TokenHash { get; set; }
    public string? Description { get; set; }
    public DateTime CreatedAt { get; set; }
    public int UseCount { get; set; }
    public DateTime? LastUsedAt { get; set; }
    /// <summary>When the token stops admitting hosts (UTC); null: never.</summary>
    public DateTime? ExpiresAt { get; set; }
    /// <summary>How many registrations it admits; null: any number.</summary>
    public int? MaxUses { get; set; }
    /// <summary>A token made for relays (New-DistEnrollmentToken -Relay): only such a token registers a relay, and it registers nothing else.</summary>
    public bool ForRelays { get; set; }
    /// <summary>Hosts it admits stay Pending (no work) until an administrator approves them.</summary>
    public bool RequireApproval { get; set; }
}

/// <summary>
/// A registration made with a token that requires approval: the host it would become, waiting for Approve-DistHost or
/// Deny-DistHost. HostId is the id the agent received (for a replacement, the enrolled host's id). An approved row is kept
/// (ApprovedAt set, its registration cleared) until the agent collects its approval by registering again with its credential.
/// </summary>
public sealed class PendingEnrollmentRow
{
    public long Id { get; set; }
    public Guid HostId { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public HostKind Kind { get; set; }
    /// <summary>The relay the registration came through; null: the manager itself.</summary>
    public Guid? ParentHostId { get; set; }
    /// <summary>The registration as it arrived (JSON of RegisterRequest, without token and credential): the facts to admit the host with.</summary>
    public string RegistrationJson { get; set; } = "{}";
    public required string CredentialHash { get; set; }
    /// <summary>The token that admitted the request; null when that token was removed since.</summary>
    public int? TokenId { get; set; }
    public DateTime RequestedAt { get; set; }
    /// <summary>The enrolled host this computer would replace (a registration under its name without its credential).</summary>
    public Guid? ReplacesHostId { get; set; }
    public DateTime? ApprovedAt { get; set; }
    /// <summary>When the agent collected its approval; the row is history from then on.</summary>
    public DateTime? CollectedAt { get; set; }
}

/// <summary>
/// A credential refused for ever: a host removed with -Revoke, a denied enrollment, or the credential a replacement took
/// over. Every relay gets the list in its work snapshot. Id orders the revocations, so a manager sees what is new.
/// </summary>
public sealed class RevokedCredentialRow
{
    public long Id { get; set; }
    public Guid HostId { get; set; }
    public required string CredentialHash { get; set; }
    public required string Name { get; set; }
    /// <summary>Removed, Denied or Replaced.</summary>
    public required string Reason { get; set; }
    public DateTime RevokedAt { get; set; }
}

/// <summary>A saved job: a package, destinations, a type and an execution time.</summary>
public sealed class JobRow
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public int PackageId { get; set; }
    public JobType Type { get; set; }
    public DateTime? DistributeAt { get; set; }
    public string? Description { get; set; }
    public DateTime CreatedAt { get; set; }
    public int ExecutionCount { get; set; }
    public DateTime? LastExecutedAt { get; set; }
    public DestinationType DestinationType { get; set; }
    /// <summary>For an ID group job: the group whose members, now and later, are its destinations.</summary>
    public int? IdGroupId { get; set; }
    /// <summary>How many times a failed target is re-executed automatically at the host's next connection.</summary>
    public int RetryLimit { get; set; }
    /// <summary>Conditions overriding the package's, condition by condition (JSON of InstallConditions); null when none.</summary>
    public string? InstallConditionsJson { get; set; }
    /// <summary>An install time overriding the package's (UTC).</summary>
    public DateTime? InstallAt { get; set; }
    /// <summary>The pause between two segments of a transfer.</summary>
    public double SegmentIntervalSeconds { get; set; }
    /// <summary>The bandwidth cap per transfer in KiB/s; 0 means none.</summary>
    public int BandwidthLimitKBps { get; set; }
    /// <summary>Whether a host restarts after an install of this job that ended with a reboot code (New-DistJob -RebootAfter).</summary>
    public bool RebootAfter { get; set; }
    /// <summary>Whether a host shuts down once its install of this job ended (New-DistJob -ShutdownAfter).</summary>
    public bool ShutdownAfter { get; set; }
    /// <summary>Whether the manager wakes the targets (Wake-on-LAN) before each execution (New-DistJob -WakeOnLan).</summary>
    public bool WakeOnLan { get; set; }
    /// <summary>How many minutes before the execution time the targets are woken.</summary>
    public int WakeLeadMinutes { get; set; }
    /// <summary>For a user-choice job: whether agents download the package before the user chooses (New-DistJob -PreDownload).</summary>
    public bool PreDownload { get; set; }
    public List<JobDestinationRow> Destinations { get; set; } = [];
}

/// <summary>
/// How many of a job's targets are in one status, kept as targets change (<see cref="Jobs.TargetCounts"/>, the only code that
/// changes a count) so that Get-DistJob reads a dozen rows instead of counting the targets. Every job has one row per status
/// from its creation on, so a change is an UPDATE of rows that exist (Count = Count + n), never an insert.
/// </summary>
public sealed class JobTargetCountRow
{
    public int JobId { get; set; }
    public TargetStatus Status { get; set; }
    public int Count { get; set; }
}

/// <summary>One host a job names as a destination.</summary>
public sealed class JobDestinationRow
{
    public int JobId { get; set; }
    public Guid HostId { get; set; }
}

/// <summary>
/// An administrator's request to execute (or re-execute) a job: the intent a cmdlet records and the
/// manager turns into a Quartz trigger. ScheduledAt stays null until the manager has done so.
/// </summary>
public sealed class JobExecutionRow
{
    public int Id { get; set; }
    public int JobId { get; set; }
    public DateTime RequestedAt { get; set; }
    /// <summary>When to dispatch; null means at once.</summary>
    public DateTime? ExecuteAt { get; set; }
    public DateTime? ScheduledAt { get; set; }
    public DateTime? DispatchedAt { get; set; }
    public int TargetCount { get; set; }
    public bool IsRestart { get; set; }
    /// <summary>For a job with -WakeOnLan: when the manager wakes the targets (UTC); null: no wake.</summary>
    public DateTime? WakeAt { get; set; }
    /// <summary>When the targets were woken; set once (compare-and-set), so a wake that fires twice sends nothing twice.</summary>
    public DateTime? WokenAt { get; set; }
}

/// <summary>One (job, host) pair and its current state; moves by compare-and-set only.</summary>
public sealed class TargetRow
{
    public long Id { get; set; }
    public int JobId { get; set; }
    public Guid HostId { get; set; }
    public TargetStatus Status { get; set; }
    public int Attempt { get; set; }
    public int ExecutionId { get; set; }
    /// <summary>The ticket of the current attempt; a report naming another ticket is stale.</summary>
    public Guid WorkItemId { get; set; }
    public int? ExitCode { get; set; }
    public string? Message { get; set; }
    public string? OutputTail { get; set; }
    public long BytesTransferred { get; set; }
    /// <summary>Segments the agent has verified so far.</summary>
    public int SegmentsTransferred { get; set; }
    /// <summary>The effective install time of this attempt (job's, else package's); the target is not served as Transferred before it.</summary>
    public DateTime? InstallAt { get; set; }
    /// <summary>The signed JobSettings of this attempt, handed to the agent with the work item.</summary>
    public string? JobSettingsJson { get; set; }
    public string? JobSettingsSignature { get; set; }
    /// <summary>The fingerprint of the key that made <see cref="JobSettingsSignature"/> (null: stored before keys were recorded); serving signs again with the current key when it differs.</summary>
    public string? SettingsSigningKey { get; set; }
    /// <summary>Until when the signed settings are accepted as new (UTC); serving signs them again before then. Null: signed before settings expired.</summary>
    public DateTime? SettingsExpiresAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    /// <summary>When the host became a target of the job (for an ID group job, when it joined).</summary>
    public DateTime CreatedAt { get; set; }
    public DateTime? QueuedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
    /// <summary>For a StoredOnRelay target: until when the relay keeps the package (UTC); null means no expiry.</summary>
    public DateTime? StoredUntil { get; set; }
    /// <summary>The relay the host last reported this attempt to; null when it reported to the manager (or has not reported yet: StartedAt is null then).</summary>
    public Guid? ServedByHostId { get; set; }
    /// <summary>What Wake-on-LAN did for this attempt (sent, asked of a relay, or why not): shown as the status message while no other is.</summary>
    public string? PowerNote { get; set; }
}

/// <summary>
/// A shutdown asked of one host outside any job (Stop-DistHost): the signed order its agent finds with its work until it
/// reports taking it, and what became of it.
/// </summary>
public sealed class PowerOrderRow
{
    public Guid Id { get; set; }
    public Guid HostId { get; set; }
    public required string Action { get; set; }
    public int GraceSeconds { get; set; }
    /// <summary>The signed JSON of the <see cref="Protocol.Power.PowerOrder"/> and its signature.</summary>
    public required string OrderJson { get; set; }
    public required string Signature { get; set; }
    public DateTime RequestedAt { get; set; }
    public DateTime ExpiresAt { get; set; }
    /// <summary>Requested, Asked, Done or Refused (Expired is read from ExpiresAt).</summary>
    public PowerOrderState State { get; set; }
    public DateTime? AskedAt { get; set; }
    public DateTime? DoneAt { get; set; }
    public string? Message { get; set; }
}

/// <summary>
/// A Wake-on-LAN order for a relay (a host below it is woken from the relay's own network), signed by the manager's key and
/// handed to the relay in its work snapshot until it expires.
/// </summary>
public sealed class WakeOrderRow
{
    public Guid Id { get; set; }
    /// <summary>The relay that sends the packet: the host's own higher system.</summary>
    public Guid RelayId { get; set; }
    public Guid HostId { get; set; }
    /// <summary>The signed JSON of the <see cref="Protocol.Power.WakeOrder"/> and its signature.</summary>
    public required string OrderJson { get; set; }
    public required string Signature { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime ExpiresAt { get; set; }
    /// <summary>The job execution it wakes the host for (its target keeps the same message as its power note); null for Start-DistHost.</summary>
    public int? ExecutionId { get; set; }
    /// <summary>What the status says: that the relay was asked, then what the relay reported (sent, or why not).</summary>
    public string? Message { get; set; }
    /// <summary>When the relay's report (sent or failed) arrived; null while none did. Set once: a repeated report changes nothing.</summary>
    public DateTime? ReportedAt { get; set; }
}

/// <summary>A running manager process announces itself here, so cmdlets can nudge it and status can tell when none runs.</summary>
public sealed class ManagerNodeRow
{
    public required string NodeId { get; set; }
    public required string Url { get; set; }
    public int ProcessId { get; set; }
    public string MachineName { get; set; } = "";
    public DateTime StartedAt { get; set; }
    public DateTime HeartbeatAt { get; set; }
    /// <summary>The pin of the certificate the manager serves HTTPS with (Fingerprints.OfCertificate); null for plain HTTP.</summary>
    public string? CertificatePin { get; set; }
}

/// <summary>
/// One signing key of the manager, in the order they were made: the highest Id is the current key. A later key holds its
/// announcement: signed by its predecessor over <c>SigningKeyAnnouncement.SignedText(predecessor key, this key,
/// predecessor's RetiresAt)</c>. The private key is in the keys folder, in <see cref="FileName"/>, written before the row.
/// </summary>
public sealed class SigningKeyRow
{
    public int Id { get; set; }
    /// <summary>SHA-256 of the public key (SubjectPublicKeyInfo), lowercase hex.</summary>
    public required string Fingerprint { get; set; }
    /// <summary>The public key (SubjectPublicKeyInfo, base64).</summary>
    public required string PublicKey { get; set; }
    /// <summary>The file in the keys folder that holds the private key.</summary>
    public required string FileName { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>When the key stops being trusted (UTC), set when a later key replaced it; null for the current key.</summary>
    public DateTime? RetiresAt { get; set; }
    /// <summary>The key this one replaced; unique, so a key is replaced once (two rotations at once cannot both succeed).</summary>
    public int? PredecessorId { get; set; }
    /// <summary>The predecessor's signature over the announcement of this key (base64); null for the first key.</summary>
    public string? AnnouncementSignature { get; set; }
}

/// <summary>
/// An access key: its name and role, the public id its text carries (looked up, not scanned for) and the hash of its
/// secret. A removed key is kept (RemovedAt set) so that presenting it is refused as removed, and so that the names the
/// audit log gives stay explained; a name is unique among keys not removed.
/// </summary>
public sealed class AccessKeyRow
{
    public int Id { get; set; }
    public required string Name { get; set; }
    public required string NameKey { get; set; }
    public DistRole Role { get; set; }
    /// <summary>The public part of the key text (16 hex digits), unique.</summary>
    public required string KeyId { get; set; }
    public required string SecretHash { get; set; }
    public string? Description { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>The principal that created the key.</summary>
    public required string CreatedBy { get; set; }
    /// <summary>When the key stops being accepted (UTC); null: never.</summary>
    public DateTime? ExpiresAt { get; set; }
    public DateTime? LastUsedAt { get; set; }
    public DateTime? RemovedAt { get; set; }
}

/// <summary>
/// One entry of the audit log, written in the transaction of the change it records. Append-only: no code updates or
/// deletes one, and triggers in the database refuse it (migration AccessKeysAndAudit).
/// </summary>
public sealed class AuditEntryRow
{
    public long Id { get; set; }
    /// <summary>When (UTC).</summary>
    public DateTime At { get; set; }
    public required string Principal { get; set; }
    /// <summary>"local", or the address the request came from.</summary>
    public required string Source { get; set; }
    /// <summary>A name of <see cref="DistOperations"/>.</summary>
    public required string Operation { get; set; }
    public required string Target { get; set; }
    /// <summary>The parameters as a JSON object, never a secret.</summary>
    public required string ParametersJson { get; set; }
    public AuditOutcome Outcome { get; set; }
}

/// <summary>
/// Offline media made for one attempt of a target (Export-DistOfflineMedia): its ticket, the secret its result is signed
/// with, and when its result was recorded (a result is recorded once; the row goes with its target).
/// </summary>
public sealed class OfflineMediaRow
{
    public Guid Id { get; set; }
    public long TargetId { get; set; }
    public Guid HostId { get; set; }
    public Guid WorkItemId { get; set; }
    /// <summary>The base64 secret the installing computer signs its result with (OfflineMediaFiles.Sign).</summary>
    public required string ResultKey { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
    public DateTime? ImportedAt { get; set; }
}
