using JP1Dist.Contracts;
using JP1Dist.Core.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;

namespace JP1Dist.Core.Jobs;

/// <summary>
/// A job's targets counted by status (JobTargetCounts), kept in the transaction of every change of a target's status so
/// that Get-DistJob reads the counts instead of counting the targets. The ApplyAsync overloads are the one place that
/// changes a count; targets change status through <see cref="MoveAsync"/> (compare-and-set; reports through
/// <see cref="Distribution.ReportWrites"/>, the same rule for a batch), are created through <see cref="AddedAsync"/> after
/// their insert and removed through <see cref="RemoveAsync"/>. A job's rows go with it.
/// </summary>
/// <remarks>
/// A change is one UPDATE of the rows of the two statuses concerned (Count + n for the new, Count - n for the old), with n
/// the number of targets the compare-and-set actually moved: a report that loses its compare-and-set moves nothing and
/// counts nothing, a duplicate report finds its target already moved. Many reports for one job update the same rows;
/// SQLite serialises writers anyway, and each update is a single statement (no read-modify-write).
/// </remarks>
public static class TargetCounts
{
    /// <summary>The rows of a new job: one per status, all 0, so that every later change is an UPDATE of a row that exists.</summary>
    public static IEnumerable<JobTargetCountRow> NewJob(int jobId) =>
        Enum.GetValues<TargetStatus>().Select(status => new JobTargetCountRow { JobId = jobId, Status = status, Count = 0 });

    /// <summary>
    /// The one place a change of targets changes the counts: <paramref name="count"/> targets of the job moved from
    /// <paramref name="from"/> (null: new targets) to <paramref name="to"/> (null: removed targets). One UPDATE statement,
    /// in the caller's transaction.
    /// </summary>
    public static async Task ApplyAsync(DistDbContext db, int jobId, TargetStatus? from, TargetStatus? to, int count, CancellationToken cancellationToken)
    {
        if (count == 0 || from == to)
        {
            return;
        }
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int updated;
        if (from is { } gone && to is { } came)
        {
            updated = await db.JobTargetCounts.Where(c => c.JobId == jobId && (c.Status == gone || c.Status == came))
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.Count, c => c.Count + (c.Status == came ? count : -count)), cancellationToken);
        }
        else
        {
            await AdjustAsync(db, jobId, (to ?? from)!.Value, to is null ? -count : count, cancellationToken);
            return;
        }
        if (updated != 2)
        {
            throw new InvalidOperationException($"Job {jobId} has no count row for {from} or {to}; its counts cannot be kept.");
        }
    }

    /// <summary>
    /// Many changes at once (the reports of a group commit's batch, <see cref="Distribution.ReportWrites"/>): the net change of
    /// each (job, status), one UPDATE for each that is not 0, in a fixed order (jobs, then statuses) as every writer takes them.
    /// </summary>
    public static async Task ApplyAsync(DistDbContext db, IReadOnlyDictionary<(int JobId, TargetStatus Status), int> deltas, CancellationToken cancellationToken)
    {
        using var commands = new ModelCommands<JobTargetCountRow>(db);
        foreach (var ((jobId, status), delta) in deltas.Where(d => d.Value != 0).OrderBy(d => d.Key.JobId).ThenBy(d => d.Key.Status))
        {
            await AdjustAsync(commands, jobId, status, delta, cancellationToken);
        }
    }

    private static async Task AdjustAsync(DistDbContext db, int jobId, TargetStatus status, int delta, CancellationToken cancellationToken)
    {
        using var commands = new ModelCommands<JobTargetCountRow>(db);
        await AdjustAsync(commands, jobId, status, delta, cancellationToken);
    }

    /// <summary>
    /// One row's count changed by <paramref name="delta"/>: a statement written from the model and prepared once for all the
    /// rows a batch changes (<see cref="ModelCommands{TEntity}"/>; through EF Core's query pipeline, each change cost more
    /// than the batch's target updates together).
    /// </summary>
    private static async Task AdjustAsync(ModelCommands<JobTargetCountRow> commands, int jobId, TargetStatus status, int delta, CancellationToken cancellationToken)
    {
        var command = commands.For(0, sql =>
        {
            var count = sql.Column(nameof(JobTargetCountRow.Count));
            return $"UPDATE {sql.Table} SET {count} = {count} + {sql.Parameter("delta")}"
                + $" WHERE {sql.Column(nameof(JobTargetCountRow.JobId))} = {sql.Parameter("job")} AND {sql.Column(nameof(JobTargetCountRow.Status))} = {sql.Parameter("status")}";
        });
        commands.Bind(command, "delta", nameof(JobTargetCountRow.Count), delta);
        commands.Bind(command, "job", nameof(JobTargetCountRow.JobId), jobId);
        commands.Bind(command, "status", nameof(JobTargetCountRow.Status), status);
        if (await commands.ExecuteAsync(command, cancellationToken) != 1)
        {
            throw new InvalidOperationException($"Job {jobId} has no count row for {status}; its counts cannot be kept.");
        }
    }

    /// <summary>
    /// Moves the targets of <paramref name="targets"/> that are in one of <paramref name="from"/> to <paramref name="to"/> by
    /// compare-and-set, with <paramref name="set"/>'s other changes, and counts them: one UPDATE per (job, status) they are in,
    /// each counted by the rows it changed. Targets already in <paramref name="to"/> (progress within a state, when
    /// <paramref name="from"/> lists it) are updated and not counted. <paramref name="jobId"/>, when the caller knows all the
    /// targets are of one job, spares the query for the jobs. In the caller's transaction, or in one of its own. Returns how
    /// many targets it updated.
    /// </summary>
    /// <remarks>
    /// The (job, status) pairs are read before the updates. On PostgreSQL another writer (a report, another node) may move a
    /// target from one listed state to another in between (Queued to Transferring): the update of the pair read finds it
    /// gone, so the pairs are read again, until no target of <paramref name="targets"/> is left in a listed state other than
    /// <paramref name="to"/>. Without that, a suspension or cancellation crossing a target's first progress report left the
    /// target running. SQLite runs one writer at a time, and its first read finds them all; a move from one state needs no
    /// second read either.
    /// </remarks>
    public static async Task<int> MoveAsync(DistDbContext db, IQueryable<TargetRow> targets, IReadOnlyCollection<TargetStatus> from, TargetStatus to,
        Action<UpdateSettersBuilder<TargetRow>> set, CancellationToken cancellationToken, int? jobId = null)
    {
        await using var own = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(cancellationToken) : null;
        var statuses = from.Distinct().ToList();
        if (jobId is { } job)
        {
            targets = targets.Where(t => t.JobId == job);
        }
        var moved = 0;
        var left = statuses.Where(s => s != to).ToList();
        var pairs = jobId is { } one && statuses.Count == 1 ? [(one, statuses[0])] : await PairsAsync(targets, statuses, jobId, cancellationToken);
        for (var pass = 1; pairs.Count > 0; pass++)
        {
            foreach (var (pairJob, status) in pairs.OrderBy(p => p.JobId).ThenBy(p => p.Status))
            {
                var changed = await targets.Where(t => t.JobId == pairJob && t.Status == status).ExecuteUpdateAsync(s =>
                {
                    s.SetProperty(t => t.Status, to);
                    set(s);
                }, cancellationToken);
                await ApplyAsync(db, pairJob, status, to, changed, cancellationToken);
                moved += changed;
            }
            if (db is not PostgresDistDbContext || left.Count <= 1)
            {
                break; // (from one listed state a target can only leave, and one that left is not this move's)
            }
            pairs = await PairsAsync(targets, left, jobId, cancellationToken);
            if (pass == MovePasses && pairs.Count > 0)
            {
                throw new InvalidOperationException($"Targets kept changing state while they were moved to {to}; nothing was changed.");
            }
        }
        if (own is not null)
        {
            await own.CommitAsync(cancellationToken);
        }
        return moved;
    }

    /// <summary>How many times <see cref="MoveAsync"/> reads the targets' states again before it gives up.</summary>
    private const int MovePasses = 5;

    private static async Task<List<(int JobId, TargetStatus Status)>> PairsAsync(IQueryable<TargetRow> targets, List<TargetStatus> statuses, int? jobId,
        CancellationToken cancellationToken)
    {
        var matching = targets.Where(t => statuses.Contains(t.Status));
        return jobId is { } job
            ? (await matching.Select(t => t.Status).Distinct().ToListAsync(cancellationToken)).Select(s => (job, s)).ToList()
            : (await matching.Select(t => new { t.JobId, t.Status }).Distinct().ToListAsync(cancellationToken)).Select(p => (p.JobId, p.Status)).ToList();
    }

    /// <summary>Counts targets just inserted (in the caller's transaction), by job and status.</summary>
    public static async Task AddedAsync(DistDbContext db, IEnumerable<(int JobId, TargetStatus Status)> created, CancellationToken cancellationToken)
    {
        foreach (var group in created.GroupBy(c => c).OrderBy(g => g.Key.JobId).ThenBy(g => g.Key.Status))
        {
            await ApplyAsync(db, group.Key.JobId, null, group.Key.Status, group.Count(), cancellationToken);
        }
    }

    /// <summary>Deletes the targets of <paramref name="targets"/> and uncounts them, one DELETE per (job, status), in the caller's transaction.</summary>
    public static async Task<int> RemoveAsync(DistDbContext db, IQueryable<TargetRow> targets, CancellationToken cancellationToken)
    {
        var pairs = await targets.Select(t => new { t.JobId, t.Status }).Distinct().ToListAsync(cancellationToken);
        var removed = 0;
        foreach (var pair in pairs.OrderBy(p => p.JobId).ThenBy(p => p.Status))
        {
            var deleted = await targets.Where(t => t.JobId == pair.JobId && t.Status == pair.Status).ExecuteDeleteAsync(cancellationToken);
            await ApplyAsync(db, pair.JobId, pair.Status, null, deleted, cancellationToken);
            removed += deleted;
        }
        return removed;
    }

    /// <summary>The counts of the jobs, as Get-DistJob shows them: the rows that are not 0 (a job with no targets is absent).</summary>
    public static async Task<Dictionary<int, DistJobTargetCounts>> ReadAsync(DistDbContext db, IReadOnlyCollection<int> jobIds, CancellationToken cancellationToken)
    {
        var rows = await db.JobTargetCounts.AsNoTracking().Where(c => jobIds.Contains(c.JobId) && c.Count != 0)
            .Select(c => new { c.JobId, c.Status, c.Count }).ToListAsync(cancellationToken);
        return rows.GroupBy(r => r.JobId).ToDictionary(j => j.Key, j => DistJobTargetCounts.From(j.Select(r => KeyValuePair.Create(r.Status, r.Count))));
    }
}
