namespace JP1Dist.Contracts;

/// <summary>Offline installation: Export-DistOfflineMedia and Import-DistOfflineResult.</summary>
public interface IOfflineMediaService
{
    /// <summary>
    /// Makes offline media for one target of an executed job: the work item the host would be served, signed, with a result
    /// key of its own; the target must still wait for its host (not finished, suspended or canceled).
    /// </summary>
    Task<DistOfflineMedia> ExportAsync(string jobName, string hostName, CancellationToken cancellationToken = default);

    /// <summary>A file of the media's package, by its SHA-256.</summary>
    Task<Stream> OpenContentAsync(Guid mediaId, string sha256, CancellationToken cancellationToken = default);

    /// <summary>Records the signed result of an offline install like the host's own report; each media's result once.</summary>
    Task<DistJobStatus> ImportResultAsync(OfflineResultUpload upload, CancellationToken cancellationToken = default);
}

/// <summary>
/// Offline media as the manager made it: its id, the target, the package, the description to write as media.json, and the
/// files to copy beside it; Path is where Export-DistOfflineMedia wrote it.
/// </summary>
public sealed record DistOfflineMedia(
    Guid MediaId,
    string JobName,
    string HostName,
    string PackageName,
    string PackageVersion,
    long TotalBytes,
    string Description,
    IReadOnlyList<DistOfflineContent> Content,
    string? Path = null);

/// <summary>A file of offline media: its SHA-256 (also its name in the media's content folder) and its size.</summary>
public sealed record DistOfflineContent(string Sha256, long Size);

/// <summary>What Import-DistOfflineResult sends: the result file's exact text and its signature.</summary>
public sealed record OfflineResultUpload(string Result, string Signature);
