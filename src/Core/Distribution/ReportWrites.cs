using JP1Dist.Contracts;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Distribution;

/// <summary>
/// One report of a host about one of its work items, as <see cref="ReportWrites"/> records it: the state it moves the target
/// to, the states it may move it from (the transition table's, plus its own for progress within a state), and what it sets.
/// </summary>
internal sealed record ReportWrite(Guid HostId, Guid WorkItemId, TargetStatus To, IReadOnlyCollection<TargetStatus> From, DateTime Now, long BytesTransferred,
    int SegmentsTransferred, Guid? ServedBy, DateTime? StoredUntil, int? ExitCode, string? Message, string? OutputTail);

/// <summary>
/// Records the reports of one shared commit (<see cref="GroupCommit"/>) together: one read of their targets, one UPDATE per
/// report by compare-and-set on the state read (a statement prepared once per batch, not an expression tree translated
/// per report), the counts by status changed once per (job, status) for the whole batch, and the successes' inventory in
/// one go. At 10,000 agents the reports queued behind the one writer, each five to eight statements through EF Core's
/// query pipeline, and half of a job's time went by at one core in that writer (docs/benchmarks.md).
/// </summary>
/// <remarks>
/// The rule is the one <see cref="TargetCounts.MoveAsync"/> keeps for every other change: a target moves only from a state
/// its report may move it from, and only for its current ticket; a duplicate or late report moves nothing and counts
/// nothing. Reports of the same target in one batch are taken in their order, each from what the one before left. On
/// PostgreSQL another writer (a cmdlet, another node) may change a target between the read and the update: the update
/// then finds nothing, the target is read again and the report decided from what it is now. There a batch's UPDATEs are
/// sent together (<see cref="TargetUpdates"/>): one that finds nothing undoes them, and the batch is written again one
/// UPDATE at a time, by that rule.
/// </remarks>
internal sealed class ReportWrites(DistEngine engine) : BatchWrite<ReportWrite, ReportResponse>
{
    private sealed class TargetState(long id, int jobId, Guid hostId, TargetStatus status)
    {
        public long Id { get; } = id;
        public int JobId { get; } = jobId;
        public Guid HostId { get; } = hostId;
        public TargetStatus Status { get; set; } = status;
    }

    private sealed record TargetRead(Guid WorkItemId, long Id, int JobId, Guid HostId, TargetStatus Status);

    /// <summary>The targets of a batch's tickets, compiled (EF Core otherwise walks the expression tree and looks it up on every batch).</summary>
    private static readonly Func<DistDbContext, List<Guid>, IAsyncEnumerable<TargetRead>> TargetsQuery = EF.CompileAsyncQuery(
        (DistDbContext db, List<Guid> tickets) => db.Targets.AsNoTracking().Where(t => tickets.Contains(t.WorkItemId))
            .Select(t => new TargetRead(t.WorkItemId, t.Id, t.JobId, t.HostId, t.Status)));

    public override async Task<IReadOnlyList<(ReportResponse? Result, Exception? Error)>> WriteAsync(DistDbContext db, IReadOnlyList<ReportWrite> items)
    {
        // Where the database is a server (PostgreSQL), each UPDATE alone would be a round trip inside the one writer's batch:
        // they are sent together, each decided as if it moved its target. If one did not (another writer changed its target
        // since the read), what they did is undone and the batch is written again one UPDATE at a time, each report decided
        // from what its target is then.
        if (items.Count > 1 && db.Database.GetDbConnection().CanCreateBatch && db.Database.CurrentTransaction is { } transaction)
        {
            await transaction.CreateSavepointAsync("reports");
            try
            {
                var written = await WriteAsync(db, items, together: true);
                await transaction.ReleaseSavepointAsync("reports");
                return written;
            }
            catch (ConcurrentTargetChangeException)
            {
                await transaction.RollbackToSavepointAsync("reports");
                await transaction.ReleaseSavepointAsync("reports");
            }
        }
        return await WriteAsync(db, items, together: false);
    }

    private async Task<IReadOnlyList<(ReportResponse? Result, Exception? Error)>> WriteAsync(DistDbContext db, IReadOnlyList<ReportWrite> items, bool together)
    {
        var tickets = items.Select(i => i.WorkItemId).Distinct().ToList();
        var targets = new Dictionary<Guid, TargetState>(tickets.Count);
        await foreach (var target in TargetsQuery(db, tickets))
        {
            targets[target.WorkItemId] = new TargetState(target.Id, target.JobId, target.HostId, target.Status);
        }
        var outcomes = new List<(ReportResponse?, Exception?)>(items.Count);
        var counts = new Dictionary<(int JobId, TargetStatus Status), int>();
        var installed = new List<(Guid HostId, int JobId)>();
        using var updates = new TargetUpdates(db, together);
        foreach (var item in items)
        {
            var target = targets.GetValueOrDefault(item.WorkItemId);
            for (var tries = 0; target is not null && target.HostId == item.HostId && item.From.Contains(target.Status); tries++)
            {
                if (await updates.ExecuteAsync(target.Id, target.Status, item) == 1)
                {
                    break;
                }
                if (tries == 2)
                {
                    throw new InvalidOperationException($"The target of work item {item.WorkItemId} kept changing while its report was recorded.");
                }
                // Another writer changed it since the read: decide from what it is now.
                var current = await db.Targets.AsNoTracking().Where(t => t.Id == target.Id && t.WorkItemId == item.WorkItemId)
                    .Select(t => (TargetStatus?)t.Status).FirstOrDefaultAsync();
                if (current is null)
                {
                    targets.Remove(item.WorkItemId);
                    target = null;
                    break;
                }
                target.Status = current.Value;
            }
            if (target is null || target.HostId != item.HostId)
            {
                outcomes.Add((null, new DistException("WorkItemNotFound", DistErrorKind.NotFound,
                    $"Work item {item.WorkItemId} is not current for this host (it was re-executed or removed).", item.WorkItemId)));
                continue;
            }
            if (!item.From.Contains(target.Status))
            {
                outcomes.Add((new ReportResponse(false, target.Status.ToString()), null));
                continue;
            }
            if (target.Status != item.To)
            {
                counts[(target.JobId, target.Status)] = counts.GetValueOrDefault((target.JobId, target.Status)) - 1;
                counts[(target.JobId, item.To)] = counts.GetValueOrDefault((target.JobId, item.To)) + 1;
                target.Status = item.To;
            }
            if (item.To.IsSuccess())
            {
                // Installed software is part of the host's inventory, and policies may look at it: in this shared commit.
                installed.Add((item.HostId, target.JobId));
            }
            outcomes.Add((new ReportResponse(true, item.To.ToString()), null));
        }
        await updates.FlushAsync();
        await TargetCounts.ApplyAsync(db, counts, CancellationToken.None);
        if (installed.Count > 0)
        {
            await engine.Inventory.RecordInstalledAsync(db, installed, CancellationToken.None);
        }
        return outcomes;
    }

    /// <summary>
    /// The UPDATE of a reported target (<see cref="ModelCommands{TEntity}"/>), one form kept for the batch each: progress, a
    /// final state, and StoredOnRelay (which also sets the relay's expiry).
    /// </summary>
    /// <remarks>
    /// Together (a provider with ADO.NET batches, PostgreSQL): <see cref="ExecuteAsync"/> adds the UPDATE to one batch and
    /// answers that it moved its target, and <see cref="FlushAsync"/> sends the batch in one round trip and checks that each
    /// did. One that did not (another writer changed its target since the read) fails the write, which is undone and made
    /// again one UPDATE at a time (<see cref="WriteAsync(DistDbContext, IReadOnlyList{ReportWrite})"/>).
    /// </remarks>
    private sealed class TargetUpdates(DistDbContext db, bool together) : IDisposable
    {
        private readonly ModelCommands<TargetRow> _commands = new(db);
        private readonly System.Data.Common.DbBatch? _batch = together ? db.Database.GetDbConnection().CreateBatch() : null;

        public async Task<int> ExecuteAsync(long id, TargetStatus status, ReportWrite report)
        {
            var final = report.To.IsFinal();
            var stored = report.To == TargetStatus.StoredOnRelay;
            var command = _commands.For((final ? 1 : 0) + (stored ? 2 : 0), c => Text(c, final, stored));
            _commands.Bind(command, "to", nameof(TargetRow.Status), report.To);
            _commands.Bind(command, "now", nameof(TargetRow.UpdatedAt), report.Now);
            _commands.Bind(command, "bytes", nameof(TargetRow.BytesTransferred), report.BytesTransferred);
            _commands.Bind(command, "segments", nameof(TargetRow.SegmentsTransferred), report.SegmentsTransferred);
            _commands.Bind(command, "servedBy", nameof(TargetRow.ServedByHostId), report.ServedBy);
            if (final)
            {
                _commands.Bind(command, "exitCode", nameof(TargetRow.ExitCode), report.ExitCode);
                _commands.Bind(command, "message", nameof(TargetRow.Message), report.Message);
                _commands.Bind(command, "output", nameof(TargetRow.OutputTail), report.OutputTail);
            }
            if (stored)
            {
                _commands.Bind(command, "storedUntil", nameof(TargetRow.StoredUntil), report.StoredUntil);
            }
            _commands.Bind(command, "id", nameof(TargetRow.Id), id);
            _commands.Bind(command, "ticket", nameof(TargetRow.WorkItemId), report.WorkItemId);
            _commands.Bind(command, "host", nameof(TargetRow.HostId), report.HostId);
            _commands.Bind(command, "from", nameof(TargetRow.Status), status);
            if (_batch is null)
            {
                return await _commands.ExecuteAsync(command, CancellationToken.None);
            }
            // The statement and its values move to a command of the batch (a parameter belongs to one collection at a time).
            var update = _batch.CreateBatchCommand();
            update.CommandText = command.CommandText;
            var parameters = command.Parameters.Cast<System.Data.Common.DbParameter>().ToList();
            command.Parameters.Clear();
            foreach (var parameter in parameters)
            {
                update.Parameters.Add(parameter);
            }
            _batch.BatchCommands.Add(update);
            return 1;
        }

        /// <summary>Sends the UPDATEs gathered together, if any, and fails unless each moved its target.</summary>
        public async Task FlushAsync()
        {
            if (_batch is not { BatchCommands.Count: > 0 })
            {
                return;
            }
            await _commands.ExecuteBatchAsync(_batch, CancellationToken.None);
            if (_batch.BatchCommands.Any(update => update.RecordsAffected != 1))
            {
                throw new ConcurrentTargetChangeException();
            }
        }

        private static string Text(ModelCommands<TargetRow> sql, bool final, bool stored)
        {
            string C(string property) => sql.Column(property);
            string P(string name) => sql.Parameter(name);
            var set = new List<string>
            {
                $"{C(nameof(TargetRow.Status))} = {P("to")}",
                $"{C(nameof(TargetRow.UpdatedAt))} = {P("now")}",
                // What was transferred only grows: a late progress report does not take it back.
                $"{C(nameof(TargetRow.BytesTransferred))} = CASE WHEN {P("bytes")} > {C(nameof(TargetRow.BytesTransferred))} THEN {P("bytes")} ELSE {C(nameof(TargetRow.BytesTransferred))} END",
                $"{C(nameof(TargetRow.SegmentsTransferred))} = CASE WHEN {P("segments")} > {C(nameof(TargetRow.SegmentsTransferred))} THEN {P("segments")} ELSE {C(nameof(TargetRow.SegmentsTransferred))} END",
                $"{C(nameof(TargetRow.StartedAt))} = COALESCE({C(nameof(TargetRow.StartedAt))}, {P("now")})",
                $"{C(nameof(TargetRow.ServedByHostId))} = {P("servedBy")}",
            };
            if (final)
            {
                set.Add($"{C(nameof(TargetRow.CompletedAt))} = {P("now")}");
                set.Add($"{C(nameof(TargetRow.ExitCode))} = {P("exitCode")}");
                set.Add($"{C(nameof(TargetRow.Message))} = {P("message")}");
                set.Add($"{C(nameof(TargetRow.OutputTail))} = {P("output")}");
            }
            if (stored)
            {
                set.Add($"{C(nameof(TargetRow.StoredUntil))} = {P("storedUntil")}");
            }
            return $"UPDATE {sql.Table} SET {string.Join(", ", set)} WHERE {C(nameof(TargetRow.Id))} = {P("id")} AND {C(nameof(TargetRow.WorkItemId))} = {P("ticket")}"
                + $" AND {C(nameof(TargetRow.HostId))} = {P("host")} AND {C(nameof(TargetRow.Status))} = {P("from")}";
        }

        public void Dispose()
        {
            _batch?.Dispose();
            _commands.Dispose();
        }
    }

    /// <summary>A target of the batch changed between its read and its update: the batch is written again one UPDATE at a time.</summary>
    private sealed class ConcurrentTargetChangeException()
        : InvalidOperationException("A reported target changed while its report was recorded together with others; the batch is recorded again one update at a time.");
}
