using System.Text.Json;
using System.Text.Json.Serialization;

namespace JP1Dist.Protocol;

// The wire contract between a higher system (manager or relay) and its lower clients. Version 1.
// These records depend on nothing but the BCL, so that either side can change its runtime freely.

/// <summary>Paths of the agent API, version 1.</summary>
public static class ApiPaths
{
    public const string Register = "/api/v1/register";
    public const string Work = "/api/v1/work";
    public const string Report = "/api/v1/report";
    public const string ContentPrefix = "/api/v1/content/";
    public const string Ping = "/api/v1/ping";
    public const string Facts = "/api/v1/facts";
    /// <summary>A relay registers a lower client (at any level below it) with its own higher system.</summary>
    public const string RelayRegister = "/api/v1/relay/register";
    /// <summary>A relay's long poll for the work of every host below it.</summary>
    public const string RelayWork = "/api/v1/relay/work";
    /// <summary>A relay passes its lower clients' reports, facts and last-seen times upward, in batches.</summary>
    public const string RelayBatch = "/api/v1/relay/batch";
    /// <summary>A relay asks for its TLS certificate, issued by the manager's signing key (a relay forwards a lower relay's request upward).</summary>
    public const string RelayCertificate = "/api/v1/relay/certificate";
    public const string Nudge = "/api/v1/internal/nudge";
    /// <summary>
    /// The nudge's query when the change wakes the polls it concerns by itself (a recorded execution: the manager
    /// dispatches it and wakes its hosts), so the manager leaves every other waiting poll alone.
    /// </summary>
    public const string NudgeKeepPollsQuery = "polls=keep";
    public const string Shutdown = "/api/v1/internal/shutdown";
    public const string ShutdownHeader = "X-JP1Dist-Shutdown";
}

/// <summary>
/// An agent's first call: who it is, and the enrollment token that admits it. An agent that already holds a credential
/// (it moved to another higher system, or its higher system forgot it) sends its host id and credential too: a name
/// belongs to the credential it was enrolled with, and only that credential registers it again. SigningKeyFingerprint is
/// the signing key the agent's token names: the manager refuses the registration, before it registers anything, when it
/// signs with another key (the agent checks the answer's key itself as well, since only a genuine manager honours it).
/// ChosenCredential is the credential the node asks this registration to give it (a secret it made and keeps on disk until
/// it is answered): a registration asked again with it after its answer was lost (a timeout, a cut connection, either end
/// stopped) is answered as the first time, instead of the name being refused to the credential it was given.
/// </summary>
public sealed record RegisterRequest(
    string Token,
    string Name,
    string OS,
    string OSVersion,
    string Architecture,
    IReadOnlyList<string> Addresses,
    string? MacAddress,
    string AgentVersion,
    HostInventory? Inventory = null,
    string? Kind = null,
    string? RelayUrl = null,
    Guid? HostId = null,
    string? Credential = null,
    string? SigningKeyFingerprint = null,
    string? ChosenCredential = null);

/// <summary>
/// Hardware and software facts beyond the basic ones; optional on the wire, so older agents still register. Networks are the
/// IPv4 networks of the host's interfaces as address/prefix ("192.168.10.23/24"): Wake-on-LAN aims at their broadcast address.
/// </summary>
public sealed record HostInventory(
    int CpuCount,
    long MemoryMB,
    IReadOnlyList<VolumeFact> Volumes,
    IReadOnlyList<string> MacAddresses,
    IReadOnlyList<SoftwareFact> Software,
    IReadOnlyList<string>? Networks = null);

/// <summary>A volume (drive or mount point) with its size and free space in MiB.</summary>
public sealed record VolumeFact(string Name, long SizeMB, long FreeMB);

/// <summary>One installed piece of software and where the agent read it (dpkg, rpm, Registry).</summary>
public sealed record SoftwareFact(string Name, string Version, string Source);

/// <summary>An agent's facts, sent again whenever they change after registration.</summary>
public sealed record FactsReport(
    string OS,
    string OSVersion,
    string Architecture,
    IReadOnlyList<string> Addresses,
    string? MacAddress,
    string AgentVersion,
    HostInventory? Inventory);

/// <summary>
/// The manager's answer to a registration: the host id, the agent's own credential, and the key that signs manifests now.
/// SigningKeys are the announcements of signing keys still in their grace period (each signed by the key it replaces), so
/// an agent whose token names a key the manager replaced lately can follow the chain from that key to the current one.
/// Pending is true when the token requires approval and an administrator has not approved the host yet: the agent keeps
/// the id and credential, gets no work, and registers again with them (no token use is counted) until it is approved
/// (the answer is then not pending) or denied (CredentialRevoked).
/// </summary>
public sealed record RegisterResponse(Guid HostId, string Credential, string ManifestPublicKey, IReadOnlyList<Signing.SigningKeyAnnouncement>? SigningKeys = null,
    bool Pending = false);

/// <summary>Work the higher system hands an agent; the ticket (WorkItemId) makes it idempotent.</summary>
/// <remarks>
/// JobSettings is the JSON of <see cref="JobSettings"/>, signed by the manager key like the manifest, so that a relay
/// cannot alter a job's install time, conditions or transfer pacing. Absent from older managers: the manifest rules.
/// </remarks>
public sealed record WorkItem(
    Guid WorkItemId,
    string JobName,
    int Attempt,
    string Manifest,
    string ManifestSignature,
    string? JobSettings = null,
    string? JobSettingsSignature = null);

/// <summary>
/// What one attempt of a job asks of one host, signed by the manager's key: the effective install conditions (the
/// package's, overridden by the job's), the install time and the pacing of the transfer, bound to everything else the
/// work item carries (its ticket, the host, the job, the package's name, version and manifest hash) and valid until
/// <see cref="ExpiresAt"/>. An agent refuses a work item whose pieces do not match these settings or itself
/// (<see cref="Signing.SignedWork"/>), so no piece can be swapped, dropped or replayed to another host.
/// </summary>
/// <remarks>
/// JobType is "TransferToRelay" for a work item that asks a relay to store the package in its cache (no install) until
/// StoreUntil (UTC; null: until removed); "UserChoice" offers the package to the host's user, who installs it when they
/// choose (`jp1dist install`), until StoreUntil (the package's expiry); null or "Install" installs. RebootAfter asks the agent to restart the computer
/// when the install ends with one of the package's reboot codes (`New-DistJob -RebootAfter`), once no install or
/// transfer runs. ShutdownAfter asks it to shut the computer down once the install ended, whatever its outcome, and no
/// other install or transfer runs (`New-DistJob -ShutdownAfter`). PreDownload, for a user-choice item, asks the agent
/// to download and verify the content into its staging before it offers the package (`New-DistJob -PreDownload`), so
/// the user's install fetches nothing more.
/// </remarks>
public sealed record JobSettings(
    Guid WorkItemId,
    InstallConditions? InstallConditions = null,
    DateTime? InstallAt = null,
    double SegmentIntervalSeconds = 0,
    int BandwidthLimitKBps = 0,
    string? JobType = null,
    DateTime? StoreUntil = null,
    bool RebootAfter = false,
    bool ShutdownAfter = false,
    bool PreDownload = false)
{
    /// <summary>The host the work item is for.</summary>
    public Guid HostId { get; init; }

    /// <summary>The job's name, as the work item names it.</summary>
    public string JobName { get; init; } = "";

    /// <summary>The package's name in the manifest.</summary>
    public string PackageName { get; init; } = "";

    /// <summary>The package's version in the manifest.</summary>
    public string PackageVersion { get; init; } = "";

    /// <summary>The lowercase hex SHA-256 of the manifest text exactly as served (UTF-8).</summary>
    public string ManifestSha256 { get; init; } = "";

    /// <summary>For a user-choice attempt: the package's description, which the user sees among the available packages.</summary>
    public string? Description { get; init; }

    /// <summary>Until when (UTC) an agent accepts this work item as new; the manager signs it again before then.</summary>
    public DateTime ExpiresAt { get; init; }
}

/// <summary>A relay asks its higher system to register a host that sits below it; ParentHostId is the host's own higher system.</summary>
public sealed record RelayRegisterRequest(RegisterRequest Registration, Guid ParentHostId);

/// <summary>
/// One work item of a host below a relay, with the target's status at the higher system (Suspended items are listed,
/// not served). The item's Manifest and ManifestSignature are empty on the wire: ManifestId names the signed manifest
/// in <see cref="RelayWorkResponse.Manifests"/>, so that a package's manifest travels once, not once per host.
/// </summary>
public sealed record RelayWorkItem(Guid HostId, WorkItem Item, string Status, string ManifestId);

/// <summary>A signed manifest as the manager signed it.</summary>
public sealed record SignedManifest(string Manifest, string Signature);

/// <summary>
/// The answer to a relay's poll: every current work item of every host below it (a full snapshot), their manifests by
/// id, and a tag of this snapshot. The relay sends the tag of the snapshot it holds (<c>?etag=</c>); the higher system
/// answers when its snapshot differs from that one, or when the wait is over.
/// </summary>
/// <remarks>
/// SigningKeys: the signing-key announcements in their grace period, as in <see cref="WorkResponse"/>. Revoked lists every
/// credential the manager revoked (a host removed with -Revoke, a denied enrollment, the credential a replacement took
/// over), so that every relay refuses it at once and drops it from what it knows; it is part of the tag. WakeOrders are
/// the current Wake-on-LAN orders for this relay and the relays below it, each signed by the manager and naming the relay
/// that sends it (<see cref="Power.SignedWakeOrder"/>); PowerOrders are the power orders for hosts below the relay not
/// yet taken (<see cref="Power.SignedPowerOrder"/>), served to each host with its work. Both are part of the tag.
/// </remarks>
public sealed record RelayWorkResponse(IReadOnlyList<RelayWorkItem> Items, IReadOnlyDictionary<string, SignedManifest> Manifests, string Etag = "",
    IReadOnlyList<Signing.SigningKeyAnnouncement>? SigningKeys = null, IReadOnlyList<RevokedCredential>? Revoked = null,
    IReadOnlyList<Power.SignedWakeOrder>? WakeOrders = null, IReadOnlyList<Power.SignedPowerOrder>? PowerOrders = null);

/// <summary>
/// A credential the manager revoked: the host id and the hash of the credential (as the manager and relays store it).
/// Calls presenting it are answered 401 with <see cref="ErrorId"/>, and registering with it is refused the same way.
/// </summary>
public sealed record RevokedCredential(Guid HostId, string CredentialHash)
{
    /// <summary>The problem-details error id of a call that presents a revoked credential; the agent stops on it.</summary>
    public const string ErrorId = "CredentialRevoked";
}

/// <summary>
/// One entry a relay passes upward: a report, a facts report, or the time a host was last seen. Seq is the relay's own
/// outbox number, echoed in the answer.
/// </summary>
/// <remarks>
/// Via is the relay the host reported to (stamped by that relay, passed on unchanged by the relays above it): the status
/// shows which node served the target. A higher system takes it only when it names the sending relay or one below it.
/// </remarks>
public sealed record RelayBatchEntry(long Seq, Guid HostId, ReportRequest? Report = null, FactsReport? Facts = null, DateTime? SeenAt = null, Guid? Via = null);

/// <summary>What a relay passes upward in one call.</summary>
public sealed record RelayBatch(IReadOnlyList<RelayBatchEntry> Entries);

/// <summary>The answer for one entry: the report's answer, or an error id when the entry was refused (it is not sent again).</summary>
public sealed record RelayBatchResult(long Seq, ReportResponse? Report = null, string? ErrorId = null, string? Message = null);

/// <summary>The answer to a batch, one result per entry in the same order.</summary>
public sealed record RelayBatchResponse(IReadOnlyList<RelayBatchResult> Results);

/// <summary>
/// A relay's request for the TLS certificate it serves its lower clients with: a PKCS#10 signing request (base64 DER) made
/// with the relay's own key, which proves that the relay holds the key and never leaves it, and the names the certificate is
/// to carry. HostId is the relay the certificate is for: absent (the caller itself) when a relay asks for its own, set when
/// a relay forwards the request of a relay below it. The signing request's subject and extensions are ignored: the manager
/// decides them (<see cref="Tls.RelayCertificates"/>).
/// </summary>
public sealed record RelayCertificateRequest(string SigningRequest, IReadOnlyList<string>? DnsNames, IReadOnlyList<string>? IPAddresses, Guid? HostId = null);

/// <summary>The manager's answer: the relay's certificate and the certificate of the manager's signing key that issued it (base64 DER each).</summary>
public sealed record RelayCertificateResponse(string Certificate, string IssuerCertificate);

/// <summary>
/// The answer to a poll: zero or more work items, the announcements of the manager's signing keys that are in their
/// grace period (each signed by the key it replaces; a node accepts one only from a key it trusts, see
/// <see cref="Signing.SigningKeyChain"/>), and the signed power orders for this host that it has not reported taking
/// (Stop-DistHost, <see cref="Power.SignedPowerOrder"/>).
/// </summary>
/// <remarks>
/// Open lists every work item of this host that is still open at the answering node (its target is in no final state:
/// served, suspended, or offered to the user as Available), when the node knows them all; null when it does not say (an
/// older node, or a relay not yet in touch with its higher system since it started). An agent withdraws an offer it
/// holds, not yet chosen by its user, whose work item a given list leaves out: the job was removed, the target canceled
/// or re-executed (<c>OfferWithdrawal</c>). A missing list never withdraws anything.
/// </remarks>
public sealed record WorkResponse(IReadOnlyList<WorkItem> Items, IReadOnlyList<Signing.SigningKeyAnnouncement>? SigningKeys = null,
    IReadOnlyList<Power.SignedPowerOrder>? PowerOrders = null, IReadOnlyList<Guid>? Open = null);

/// <summary>Progress or the outcome of one work item, sent by the agent.</summary>
public sealed record ReportRequest(
    Guid WorkItemId,
    string Status,
    int? ExitCode = null,
    string? Message = null,
    string? OutputTail = null,
    long BytesTransferred = 0,
    int SegmentsTransferred = 0);

/// <summary>
/// Whether the report moved the target, and the target's status after it. A progress report answered with
/// Suspended or Canceled tells the agent to stop at this segment boundary.
/// </summary>
public sealed record ReportResponse(bool Accepted, string Status);

/// <summary>
/// The signed description of a package: what to fetch, how to check it, what to run, and what its exit codes mean
/// (<see cref="ExitCodes"/>: reboot and retry codes are absent from older manifests, which then mean the defaults).
/// </summary>
public sealed record PackageManifest(
    string Name,
    string Version,
    long SegmentSize,
    IReadOnlyList<ManifestFile> Files,
    string InstallCommand,
    IReadOnlyList<string> InstallArguments,
    IReadOnlyList<int> SuccessExitCodes,
    int InstallTimeoutSeconds,
    InstallConditions? InstallConditions = null,
    DateTime? InstallAt = null,
    IReadOnlyList<int>? RebootExitCodes = null,
    IReadOnlyList<int>? RetryExitCodes = null)
{
    /// <summary>The sum of the files' sizes.</summary>
    [JsonIgnore]
    public long TotalBytes => Files.Sum(f => f.Size);
}

/// <summary>One file of a package: its path inside the package, its size, its hash, and the hash of each segment.</summary>
public sealed record ManifestFile(string Path, long Size, string Sha256, IReadOnlyList<string> Segments);

/// <summary>
/// What must hold on a client for a package to be installed there. Every field is optional; a condition that
/// is not set is not checked. Travels in the signed manifest (package) and the signed job settings (job override).
/// </summary>
public sealed record InstallConditions
{
    /// <summary>Free space needed on the install volume, in MiB.</summary>
    public long? MinFreeDiskMB { get; init; }

    /// <summary>A path on the client whose volume is the install volume; the agent's staging folder when not set.</summary>
    public string? InstallPath { get; init; }

    /// <summary>Physical memory needed, in MiB.</summary>
    public long? MinMemoryMB { get; init; }

    /// <summary>The operating systems allowed (Windows, Linux, macOS); any one of them.</summary>
    public IReadOnlyList<string>? OS { get; init; }

    /// <summary>A version range the OS version must fall in, such as "&gt;=10.0.19041 &lt;11".</summary>
    public string? OSVersion { get; init; }

    /// <summary>The processor architectures allowed (X64, Arm64, X86, Arm); any one of them.</summary>
    public IReadOnlyList<string>? Architecture { get; init; }

    /// <summary>Software that must be installed: a name with an optional version range, such as "openssl &gt;=3.0".</summary>
    public IReadOnlyList<string>? SoftwareInstalled { get; init; }

    /// <summary>Software that must not be installed (in the version range, when one is given).</summary>
    public IReadOnlyList<string>? SoftwareAbsent { get; init; }

    /// <summary>A program the agent runs right before installing; exit code 0 allows the install.</summary>
    public string? CheckCommand { get; init; }

    /// <summary>The check program's arguments, passed as a list (no shell in between).</summary>
    public IReadOnlyList<string>? CheckArguments { get; init; }

    /// <summary>How long the check program may run; 60 s when not set. A check that times out fails.</summary>
    public int? CheckTimeoutSeconds { get; init; }

    /// <summary>True when no condition is set.</summary>
    [JsonIgnore]
    public bool IsEmpty => this == new InstallConditions();

    /// <summary>These conditions with every condition <paramref name="overrides"/> sets taking precedence (a job's override of its package's).</summary>
    public InstallConditions Merge(InstallConditions? overrides) => overrides is null ? this : new InstallConditions
    {
        MinFreeDiskMB = overrides.MinFreeDiskMB ?? MinFreeDiskMB,
        InstallPath = overrides.InstallPath ?? InstallPath,
        MinMemoryMB = overrides.MinMemoryMB ?? MinMemoryMB,
        OS = overrides.OS ?? OS,
        OSVersion = overrides.OSVersion ?? OSVersion,
        Architecture = overrides.Architecture ?? Architecture,
        SoftwareInstalled = overrides.SoftwareInstalled ?? SoftwareInstalled,
        SoftwareAbsent = overrides.SoftwareAbsent ?? SoftwareAbsent,
        CheckCommand = overrides.CheckCommand ?? CheckCommand,
        CheckArguments = overrides.CheckArguments ?? CheckArguments,
        CheckTimeoutSeconds = overrides.CheckTimeoutSeconds ?? CheckTimeoutSeconds,
    };
}

/// <summary>One JSON shape for every message: camelCase, enums by name only, numbers as JSON numbers only.</summary>
public static class ProtocolJson
{
    public static readonly JsonSerializerOptions Options = CreateOptions();

    /// <summary>
    /// For reading what another node sent: <see cref="Options"/>, and a message that leaves out a member its type requires
    /// (a constructor parameter without a default) or gives null where the type allows none is malformed, instead of an
    /// object with a null inside that fails later, somewhere that does not expect it (`{}` is not an empty list of work).
    /// </summary>
    public static readonly JsonSerializerOptions Strict = new(Options) { RespectRequiredConstructorParameters = true, RespectNullableAnnotations = true };

    private static JsonSerializerOptions CreateOptions()
    {
        // The web defaults would read "3" as a number and 3 as an enum value: every writer here writes names and numbers,
        // so anything else is a malformed message, not another spelling.
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.Strict };
        options.Converters.Add(new JsonStringEnumConverter(namingPolicy: null, allowIntegerValues: false));
        return options;
    }
}
