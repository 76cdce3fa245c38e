using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Audit;

/// <summary>
/// How long the audit log keeps entries, and the sweep the manager runs: entries older than the retention are first
/// appended to an archive file in the data folder's logs (<see cref="ArchiveFolder"/>, one JSON line each, one file per
/// month of the entries' time, owner-only), flushed to disk, and only then removed. No contract offers it (the log stays
/// append-only through every API), and the database refuses to remove an entry younger than <see cref="Minimum"/> or to
/// change any (triggers of migration AuditRetention). A sweep stopped between the archive and the removal writes those
/// entries to the archive again at its next run: an archive may hold an entry twice (same id), never lose one.
/// </summary>
public sealed class AuditRetention(DistEngine engine)
{
    /// <summary>The shortest retention: also what the database's trigger holds every deletion to.</summary>
    public static readonly TimeSpan Minimum = TimeSpan.FromDays(30);

    /// <summary>The retention when none is given.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromDays(365);

    /// <summary>Entries read, archived and removed in one transaction.</summary>
    private const int BatchSize = 1000;

    private static readonly JsonSerializerOptions LineJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Where removed entries are kept: logs/audit-archive in the data folder.</summary>
    public string ArchiveFolder => Path.Combine(engine.Folder.LogsPath, "audit-archive");

    /// <summary>Refuses a retention below <see cref="Minimum"/> (AuditRetentionTooShort), naming both.</summary>
    public static void Check(TimeSpan retention)
    {
        if (retention < Minimum)
        {
            throw new DistException("AuditRetentionTooShort", DistErrorKind.InvalidArgument,
                $"The audit log's retention must be at least {Minimum.TotalDays:0} days; {retention.TotalDays:0.##} days was given.", retention);
        }
    }

    /// <summary>Archives and removes the entries older than <paramref name="retention"/>; returns how many were removed.</summary>
    public async Task<int> SweepAsync(TimeSpan retention, CancellationToken cancellationToken = default)
    {
        Check(retention);
        var cutoff = engine.Now - retention;
        var removed = 0;
        while (true)
        {
            await using var db = engine.Database.CreateContext();
            var batch = await db.AuditEntries.AsNoTracking().Where(e => e.At < cutoff).OrderBy(e => e.Id).Take(BatchSize).ToListAsync(cancellationToken);
            if (batch.Count == 0)
            {
                return removed;
            }
            Archive(batch);
            var last = batch[^1].Id;
            // The same rows: the first entries by id older than the cutoff, up to the last one archived.
            removed += await db.AuditEntries.Where(e => e.Id <= last && e.At < cutoff).ExecuteDeleteAsync(cancellationToken);
            if (batch.Count < BatchSize)
            {
                return removed;
            }
        }
    }

    /// <summary>Appends the entries to their month's archive file and flushes it to disk before anything is removed.</summary>
    private void Archive(List<AuditEntryRow> entries)
    {
        Directory.CreateDirectory(ArchiveFolder);
        foreach (var month in entries.GroupBy(e => e.At.ToString("yyyy-MM", CultureInfo.InvariantCulture)))
        {
            var path = Path.Combine(ArchiveFolder, $"audit-{month.Key}.jsonl");
            if (!File.Exists(path))
            {
                // Owner-only from its creation: entries name people, addresses and what they changed.
                using (OwnerOnlyFiles.CreateNew(path))
                {
                }
            }
            var text = new StringBuilder();
            foreach (var entry in month)
            {
                text.Append(JsonSerializer.Serialize(new
                {
                    id = entry.Id,
                    at = DateTime.SpecifyKind(entry.At, DateTimeKind.Utc),
                    principal = entry.Principal,
                    source = entry.Source,
                    operation = entry.Operation,
                    target = entry.Target,
                    parameters = JsonDocument.Parse(entry.ParametersJson).RootElement,
                    outcome = entry.Outcome.ToString(),
                }, LineJson)).Append('\n');
            }
            using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
            stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
            stream.Flush(flushToDisk: true);
        }
    }
}
