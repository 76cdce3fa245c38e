using System.Text;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Hosts;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Distribution;

/// <summary>
/// Offline installation at the manager. Export makes media for one waiting target: the work item its host would be served
/// now (<see cref="DistributionService.ServeAsync"/>: the same signed manifest and settings, bound to that host and ticket),
/// the package's files, and a result key kept in an <see cref="OfflineMediaRow"/>. Import checks a result's signature with
/// that key and records it as the host's own report would be (<see cref="DistributionService.ReportAsync"/>: the same
/// compare-and-set on the ticket), with its facts and inventory; once per media.
/// </summary>
public sealed class OfflineMediaService(DistEngine engine) : IOfflineMediaService
{
    public async Task<DistOfflineMedia> ExportAsync(string jobName, string hostName, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.ExportOfflineMedia, $"{jobName}/{hostName}", cancellationToken);
        await using var db = engine.Database.CreateContext();
        var job = await JobService.FindRowAsync(db, Names.Require(jobName, "Job"), cancellationToken);
        var key = Names.Key(Names.Require(hostName, "Host"));
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.NameKey == key, cancellationToken) ?? throw HostService.HostNotFound(hostName);
        var target = await db.Targets.AsNoTracking().FirstOrDefaultAsync(t => t.JobId == job.Id && t.HostId == host.Id, cancellationToken)
            ?? throw new DistException("TargetNotFound", DistErrorKind.NotFound,
                $"Host '{host.Name}' is not a target of job '{job.Name}' (execute the job first: Start-DistJob).", hostName);
        if (job.Type != JobType.Install)
        {
            throw new DistException("OfflineMediaJobType", DistErrorKind.InvalidOperation,
                $"Job '{job.Name}' is a {job.Type} job; offline media carry install jobs only.", jobName);
        }
        if (!TargetStates.Servable.Contains(target.Status))
        {
            throw new DistException("OfflineMediaTargetNotWaiting", DistErrorKind.InvalidOperation,
                $"The target ({job.Name}, {host.Name}) is {target.Status}: media are made for a target that waits for its host"
                + (target.Status.IsFinal() ? " (Restart-DistJob makes a new attempt of a failed one)." : target.Status == TargetStatus.Waiting ? " (its execution time has not come)." : "."),
                hostName);
        }
        var work = (await engine.Distribution.ServeAsync(db, host.Id, cancellationToken))
            .FirstOrDefault(w => w.WorkItemId == target.WorkItemId)
            ?? throw new DistException("OfflineMediaTargetNotWaiting", DistErrorKind.InvalidOperation,
                $"The target ({job.Name}, {host.Name}) is not served now (its install time has not come).", hostName);
        var manifest = JsonSerializer.Deserialize<PackageManifest>(work.Manifest, ProtocolJson.Options)!;

        var row = new OfflineMediaRow
        {
            Id = Guid.NewGuid(),
            TargetId = target.Id,
            HostId = host.Id,
            WorkItemId = target.WorkItemId,
            ResultKey = OfflineMediaFiles.NewResultKey(),
            CreatedAt = engine.Now,
            CreatedBy = engine.Caller.Principal,
        };
        var description = new OfflineMediaDescription(OfflineMediaFiles.Format, row.Id, host.Id, host.Name, engine.Signer.PublicKey, work, row.CreatedAt, row.ResultKey);
        db.OfflineMedia.Add(row);
        // Never the result key: it is a secret of the media.
        change.Record(db, $"{job.Name}/{host.Name}", new { MediaId = row.Id, Package = $"{manifest.Name}@{manifest.Version}", work.WorkItemId });
        await db.SaveChangesAsync(cancellationToken);
        return new DistOfflineMedia(row.Id, job.Name, host.Name, manifest.Name, manifest.Version, manifest.TotalBytes,
            JsonSerializer.Serialize(description, ProtocolJson.Options),
            manifest.Files.GroupBy(f => f.Sha256).Select(g => new DistOfflineContent(g.Key, g.First().Size)).ToList());
    }

    public async Task<Stream> OpenContentAsync(Guid mediaId, string sha256, CancellationToken cancellationToken = default)
    {
        await engine.Audit.AuthorizeAsync(DistOperations.ExportOfflineMedia, mediaId.ToString(), cancellationToken);
        await using var db = engine.Database.CreateContext();
        var media = await db.OfflineMedia.AsNoTracking().FirstOrDefaultAsync(m => m.Id == mediaId, cancellationToken)
            ?? throw new DistException("OfflineMediaNotFound", DistErrorKind.NotFound, $"There are no offline media {mediaId}.", mediaId);
        var manifestJson = await (from t in db.Targets
                                  join j in db.Jobs on t.JobId equals j.Id
                                  join p in db.Packages on j.PackageId equals p.Id
                                  where t.Id == media.TargetId
                                  select p.ManifestJson).FirstOrDefaultAsync(cancellationToken);
        var manifest = manifestJson is null ? null : JsonSerializer.Deserialize<PackageManifest>(manifestJson, ProtocolJson.Options);
        if (manifest is null || !ContentHash.IsHash(sha256) || !manifest.Files.Any(f => string.Equals(f.Sha256, sha256, StringComparison.OrdinalIgnoreCase))
            || !engine.Content.Contains(sha256))
        {
            throw new DistException("OfflineContentNotFound", DistErrorKind.NotFound, $"Offline media {mediaId} hold no file {sha256}.", sha256);
        }
        return new FileStream(engine.Content.PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
    }

    public async Task<DistJobStatus> ImportResultAsync(OfflineResultUpload upload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upload);
        var change = await engine.Audit.AuthorizeAsync(DistOperations.ImportOfflineResult, null, cancellationToken);
        var bytes = Encoding.UTF8.GetBytes(upload.Result ?? "");
        OfflineResult? result;
        try
        {
            result = JsonSerializer.Deserialize<OfflineResult>(bytes, ProtocolJson.Strict);
        }
        catch (JsonException e)
        {
            throw Invalid($"The result file cannot be read ({e.Message}).");
        }
        if (result is null || result.Format != OfflineMediaFiles.Format)
        {
            throw Invalid("The result file is not an offline result of this version.");
        }
        await using var db = engine.Database.CreateContext();
        var media = await db.OfflineMedia.AsNoTracking().FirstOrDefaultAsync(m => m.Id == result.MediaId, cancellationToken)
            ?? throw new DistException("OfflineMediaNotFound", DistErrorKind.NotFound,
                $"The result names media {result.MediaId}, which this manager did not make (or whose job was removed).", result.MediaId);
        if (!OfflineMediaFiles.Verify(bytes, upload.Signature, media.ResultKey))
        {
            throw new DistException("OfflineResultSignatureInvalid", DistErrorKind.InvalidArgument,
                "The result's signature does not match: the result file was changed after the install wrote it, or comes from other media. Nothing was recorded.", result.MediaId);
        }
        if (result.HostId != media.HostId || result.WorkItemId != media.WorkItemId)
        {
            throw Invalid("The result names another host or work item than its media.");
        }
        if (media.ImportedAt is { } imported)
        {
            throw new DistException("OfflineResultAlreadyImported", DistErrorKind.InvalidOperation,
                $"The result of media {media.Id} was recorded at {imported:yyyy-MM-dd HH:mm:ss} UTC; a result is recorded once. Nothing was changed.", media.Id);
        }
        var status = TargetStates.ParseReported(result.Status);
        if (!status.IsFinal() || status == TargetStatus.StoredOnRelay || status == TargetStatus.Canceled)
        {
            throw Invalid($"'{result.Status}' is not the outcome of an install.");
        }
        var target = await (from t in db.Targets.AsNoTracking()
                            join j in db.Jobs on t.JobId equals j.Id
                            join h in db.Hosts on t.HostId equals h.Id
                            where t.Id == media.TargetId
                            select new { t.WorkItemId, t.Status, Job = j.Name, Host = h.Name }).FirstAsync(cancellationToken);
        if (target.WorkItemId != media.WorkItemId)
        {
            throw new DistException("OfflineResultStale", DistErrorKind.InvalidOperation,
                $"The target ({target.Job}, {target.Host}) was executed again after the media were made; their result no longer applies. Nothing was changed.", media.Id);
        }

        // Claimed first (compare-and-set): of two imports at once, one records.
        var now = engine.Now;
        if (await db.OfflineMedia.Where(m => m.Id == media.Id && m.ImportedAt == null).ExecuteUpdateAsync(s => s.SetProperty(m => m.ImportedAt, now), cancellationToken) == 0)
        {
            throw new DistException("OfflineResultAlreadyImported", DistErrorKind.InvalidOperation,
                $"The result of media {media.Id} was recorded already; a result is recorded once. Nothing was changed.", media.Id);
        }
        var message = $"Installed offline on '{result.ComputerName}' ({result.EndedAt:yyyy-MM-dd HH:mm:ss} UTC). {result.Message}";
        var report = new ReportRequest(result.WorkItemId, status.ToString(), result.ExitCode, message, result.OutputTail);
        ReportResponse answer;
        try
        {
            answer = await engine.Distribution.ReportAsync(media.HostId, report, cancellationToken);
        }
        catch
        {
            await db.OfflineMedia.Where(m => m.Id == media.Id).ExecuteUpdateAsync(s => s.SetProperty(m => m.ImportedAt, (DateTime?)null), CancellationToken.None);
            throw;
        }
        if (!answer.Accepted)
        {
            await db.OfflineMedia.Where(m => m.Id == media.Id).ExecuteUpdateAsync(s => s.SetProperty(m => m.ImportedAt, (DateTime?)null), CancellationToken.None);
            throw new DistException("OfflineResultNotAccepted", DistErrorKind.InvalidOperation,
                $"The target ({target.Job}, {target.Host}) is {answer.Status} now and takes no result. Nothing was changed.", target.Host);
        }
        // The inventory only of the host itself (media installed with --any-host elsewhere describe another computer).
        if (result.Facts is { } facts && string.Equals(result.ComputerName, target.Host, StringComparison.OrdinalIgnoreCase))
        {
            await engine.Inventory.ReportFactsAsync(media.HostId, facts, cancellationToken);
        }
        await change.RecordAsync($"{target.Job}/{target.Host}", new { MediaId = media.Id, result.Status, result.ExitCode, result.ComputerName }, cancellationToken);
        return (await engine.Jobs.GetStatusAsync(new JobStatusQuery(target.Job, target.Host), cancellationToken)).Single();
    }

    private static DistException Invalid(string message) => new("OfflineResultInvalid", DistErrorKind.InvalidArgument, message + " Nothing was recorded.");
}
