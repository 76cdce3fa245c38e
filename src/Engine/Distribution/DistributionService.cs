using System.Text.Json;
using JP1Dist.Engine.Conditions;
using JP1Dist.Engine.Domain;
using JP1Dist.Engine.Protocol;
using JP1Dist.Engine.Storage;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Engine.Distribution;

/// <summary>
/// The manager's side of distribution: dispatching executions, handing work to polling hosts and
/// recording their reports. Hot paths use set-based updates, not change tracking.
/// </summary>
public sealed class DistributionService(DistEngine engine, HostSignals signals)
{
    /// <summary>The data folder this manager serves.</summary>
    public string Folder => engine.Folder.Root;

    private static readonly TargetStatus[] Servable = [TargetStatus.Queued, TargetStatus.Transferring, TargetStatus.Transferred, TargetStatus.Installing];
    private static readonly TargetStatus[] Reportable = [TargetStatus.Transferring, TargetStatus.Transferred, TargetStatus.Installing, TargetStatus.Succeeded, TargetStatus.Failed, TargetStatus.ConditionNotMet];

    /// <summary>Executions recorded by a cmdlet and not yet turned into a trigger.</summary>
    public async Task<IReadOnlyList<JobExecutionRow>> GetUnscheduledAsync(CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await db.JobExecutions.AsNoTracking().Where(x => x.ScheduledAt == null).OrderBy(x => x.Id).ToListAsync(cancellationToken);
    }

    /// <summary>Marks an execution as handed to the scheduler.</summary>
    public async Task MarkScheduledAsync(int executionId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        await db.JobExecutions.Where(x => x.Id == executionId && x.ScheduledAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.ScheduledAt, now), cancellationToken);
    }

    /// <summary>
    /// The execution time has come: its waiting targets become queued, and their hosts are woken. A host whose known
    /// facts already fail the install conditions becomes ConditionNotMet instead and is not sent the package.
    /// </summary>
    public async Task<int> DispatchAsync(int executionId, CancellationToken cancellationToken)
    {
        var now = engine.Now;
        List<Guid> hosts;
        await using (var db = engine.Database.CreateContext())
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            var waiting = await (from t in db.Targets
                                 join h in db.Hosts on t.HostId equals h.Id
                                 where t.ExecutionId == executionId && t.Status == TargetStatus.Waiting
                                 select new { t.Id, t.HostId, t.JobSettingsJson, h.OS, h.OSVersion, h.Architecture }).ToListAsync(cancellationToken);
            hosts = [];
            foreach (var target in waiting)
            {
                var verdict = PreCheck(target.JobSettingsJson, HostConditionFacts.From(target.OS, target.OSVersion, target.Architecture));
                if (!verdict.Met)
                {
                    await db.Targets.Where(t => t.Id == target.Id && t.Status == TargetStatus.Waiting)
                        .ExecuteUpdateAsync(s => s
                            .SetProperty(t => t.Status, TargetStatus.ConditionNotMet)
                            .SetProperty(t => t.Message, verdict.Message + " (checked by the manager; the package was not sent)")
                            .SetProperty(t => t.CompletedAt, now)
                            .SetProperty(t => t.UpdatedAt, now), cancellationToken);
                    continue;
                }
                hosts.Add(target.HostId);
            }
            await db.Targets.Where(t => t.ExecutionId == executionId && t.Status == TargetStatus.Waiting)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(t => t.Status, TargetStatus.Queued)
                    .SetProperty(t => t.QueuedAt, now)
                    .SetProperty(t => t.UpdatedAt, now)
                    .SetProperty(t => t.Message, (string?)null), cancellationToken);
            await db.JobExecutions.Where(x => x.Id == executionId)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.DispatchedAt, now), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        signals.Notify(hosts);
        return hosts.Count;
    }

    private static ConditionResult PreCheck(string? settingsJson, ConditionFacts facts)
    {
        if (settingsJson is null || JsonSerializer.Deserialize<JobSettings>(settingsJson, ProtocolJson.Options)?.InstallConditions is not { } conditions)
        {
            return ConditionResult.Pass;
        }
        return ConditionEvaluator.Evaluate(conditions, facts);
    }

    /// <summary>
    /// The work a host should do now: every unfinished, dispatched target of its, with the signed manifest and job
    /// settings. A Transferred target waiting for its install time is not served before that time (the agent keeps the
    /// pending install itself); suspended and canceled targets are not served at all.
    /// </summary>
    public async Task<IReadOnlyList<WorkItem>> GetWorkAsync(Guid hostId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        var items = await (from t in db.Targets.AsNoTracking()
                           join j in db.Jobs on t.JobId equals j.Id
                           join p in db.Packages on j.PackageId equals p.Id
                           where t.HostId == hostId && Servable.Contains(t.Status)
                                 && (t.Status != TargetStatus.Transferred || t.InstallAt == null || t.InstallAt <= now)
                           orderby t.QueuedAt
                           select new WorkItem(t.WorkItemId, j.Name, t.Attempt, p.ManifestJson, p.ManifestSignature, t.JobSettingsJson, t.JobSettingsSignature))
            .ToListAsync(cancellationToken);
        return items;
    }

    /// <summary>Waits up to <paramref name="wait"/> for work, returning as soon as some is there.</summary>
    public async Task<IReadOnlyList<WorkItem>> WaitForWorkAsync(Guid hostId, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = engine.Time.GetUtcNow() + wait;
        while (true)
        {
            // Subscribe before looking, so a dispatch between the look and the wait is not missed.
            var signal = signals.WaitAsync(hostId, TimeSpan.FromSeconds(5), cancellationToken);
            var items = await GetWorkAsync(hostId, cancellationToken);
            var remaining = deadline - engine.Time.GetUtcNow();
            if (items.Count > 0 || remaining <= TimeSpan.Zero)
            {
                return items;
            }
            await Task.WhenAny(signal, Task.Delay(remaining, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Records a report by compare-and-set: the target moves only from a state the transition table allows,
    /// and only for the current ticket, so a duplicate or late report cannot move it backwards.
    /// </summary>
    public async Task<ReportResponse> ReportAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken)
    {
        if (!Enum.TryParse<TargetStatus>(report.Status, ignoreCase: true, out var to) || !Reportable.Contains(to))
        {
            throw new DistException("ReportStatusInvalid", DistErrorKind.InvalidArgument,
                $"'{report.Status}' is not a status an agent may report; use one of {string.Join(", ", Reportable)}.", report.Status);
        }
        var from = TargetStates.Predecessors(to).ToList();
        if (!to.IsFinal())
        {
            from.Add(to); // progress within the same state
        }
        var now = engine.Now;
        var final = to.IsFinal();
        var message = Truncate(report.Message, 2000);
        var output = Truncate(report.OutputTail, 8000);
        await using var db = engine.Database.CreateContext();
        var changed = await db.Targets
            .Where(t => t.WorkItemId == report.WorkItemId && t.HostId == hostId && from.Contains(t.Status))
            .ExecuteUpdateAsync(s =>
            {
                s.SetProperty(t => t.Status, to)
                 .SetProperty(t => t.UpdatedAt, now)
                 .SetProperty(t => t.BytesTransferred, t => report.BytesTransferred > t.BytesTransferred ? report.BytesTransferred : t.BytesTransferred)
                 .SetProperty(t => t.SegmentsTransferred, t => report.SegmentsTransferred > t.SegmentsTransferred ? report.SegmentsTransferred : t.SegmentsTransferred)
                 .SetProperty(t => t.StartedAt, t => t.StartedAt ?? now);
                if (final)
                {
                    s.SetProperty(t => t.CompletedAt, now)
                     .SetProperty(t => t.ExitCode, report.ExitCode)
                     .SetProperty(t => t.Message, message)
                     .SetProperty(t => t.OutputTail, output);
                }
            }, cancellationToken);
        if (changed > 0)
        {
            return new ReportResponse(true, to.ToString());
        }
        var current = await db.Targets.AsNoTracking().Where(t => t.WorkItemId == report.WorkItemId && t.HostId == hostId)
            .Select(t => (TargetStatus?)t.Status).FirstOrDefaultAsync(cancellationToken);
        if (current is null)
        {
            throw new DistException("WorkItemNotFound", DistErrorKind.NotFound,
                $"Work item {report.WorkItemId} is not current for this host (it was re-executed or removed).", report.WorkItemId);
        }
        return new ReportResponse(false, current.Value.ToString());
    }

    /// <summary>Notes that a host was seen; callers throttle it.</summary>
    public async Task TouchHostAsync(Guid hostId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        await db.Hosts.Where(h => h.Id == hostId).ExecuteUpdateAsync(s => s.SetProperty(h => h.LastSeen, now), cancellationToken);
    }

    /// <summary>Announces (or refreshes) this manager in the database.</summary>
    public async Task HeartbeatAsync(string nodeId, string url, DateTime startedAt, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        var updated = await db.ManagerNodes.Where(m => m.NodeId == nodeId)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.HeartbeatAt, now).SetProperty(m => m.Url, url), cancellationToken);
        if (updated == 0)
        {
            db.ManagerNodes.Add(new ManagerNodeRow
            {
                NodeId = nodeId, Url = url, ProcessId = Environment.ProcessId, MachineName = Environment.MachineName,
                StartedAt = startedAt, HeartbeatAt = now,
            });
            await db.SaveChangesAsync(cancellationToken);
        }
    }

    /// <summary>Removes this manager's announcement on a clean stop, so status says at once that none runs.</summary>
    public async Task SignOffAsync(string nodeId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        await db.ManagerNodes.Where(m => m.NodeId == nodeId).ExecuteDeleteAsync(cancellationToken);
    }

    private static string? Truncate(string? text, int max) =>
        text is null || text.Length <= max ? text : text[^max..];
}
