using System.Text.Json;
using System.Text.Json.Serialization;

namespace JP1Dist.Engine.Protocol;

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
    public const string Nudge = "/api/v1/internal/nudge";
    public const string Shutdown = "/api/v1/internal/shutdown";
    public const string ShutdownHeader = "X-JP1Dist-Shutdown";
}

/// <summary>An agent's first call: who it is, and the enrollment token that admits it.</summary>
public sealed record RegisterRequest(
    string Token,
    string Name,
    string OS,
    string OSVersion,
    string Architecture,
    IReadOnlyList<string> Addresses,
    string? MacAddress,
    string AgentVersion,
    HostInventory? Inventory = null);

/// <summary>Hardware and software facts beyond the basic ones; optional on the wire, so older agents still register.</summary>
public sealed record HostInventory(
    int CpuCount,
    long MemoryMB,
    IReadOnlyList<VolumeFact> Volumes,
    IReadOnlyList<string> MacAddresses,
    IReadOnlyList<SoftwareFact> Software);

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

/// <summary>The manager's answer to a registration: the host id, the agent's own credential, and the key that signs manifests.</summary>
public sealed record RegisterResponse(Guid HostId, string Credential, string ManifestPublicKey);

/// <summary>Work the higher system hands an agent; the ticket (WorkItemId) makes it idempotent.</summary>
public sealed record WorkItem(
    Guid WorkItemId,
    string JobName,
    int Attempt,
    string Manifest,
    string ManifestSignature);

/// <summary>The answer to a poll: zero or more work items.</summary>
public sealed record WorkResponse(IReadOnlyList<WorkItem> Items);

/// <summary>Progress or the outcome of one work item, sent by the agent.</summary>
public sealed record ReportRequest(
    Guid WorkItemId,
    string Status,
    int? ExitCode = null,
    string? Message = null,
    string? OutputTail = null,
    long BytesTransferred = 0);

/// <summary>Whether the report moved the target, and the target's status after it.</summary>
public sealed record ReportResponse(bool Accepted, string Status);

/// <summary>The signed description of a package: what to fetch, how to check it, what to run.</summary>
public sealed record PackageManifest(
    string Name,
    string Version,
    long SegmentSize,
    IReadOnlyList<ManifestFile> Files,
    string InstallCommand,
    IReadOnlyList<string> InstallArguments,
    IReadOnlyList<int> SuccessExitCodes,
    int InstallTimeoutSeconds)
{
    /// <summary>The sum of the files' sizes.</summary>
    [JsonIgnore]
    public long TotalBytes => Files.Sum(f => f.Size);
}

/// <summary>One file of a package: its path inside the package, its size, its hash, and the hash of each segment.</summary>
public sealed record ManifestFile(string Path, long Size, string Sha256, IReadOnlyList<string> Segments);

/// <summary>One JSON shape for every message: camelCase, enums as strings.</summary>
public static class ProtocolJson
{
    public static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }
}
