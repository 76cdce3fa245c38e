using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Jobs;

// Suspending, resuming and canceling: each a compare-and-set from the states TargetStates allows. The agent learns
// of a suspension or cancellation from the answer to its next progress report (one per segment), so it stops at a
// segment boundary; a suspended target is not served, so one that has not started does not start.
public sealed partial class JobService
{
    /// <summary>Suspends the job's unfinished targets (all, or the hosts named); an install under way finishes.</summary>
    public Task<IReadOnlyList<DistJobStatus>> SuspendAsync(string jobName, IReadOnlyCollection<string>? hostNames, CancellationToken cancellationToken = default) =>
        ControlAsync(jobName, hostNames, JobControlAction.Suspend, cancellationToken);

    /// <summary>Resumes suspended targets: a transfer goes on from its last verified segment.</summary>
    public Task<IReadOnlyList<DistJobStatus>> ResumeAsync(string jobName, IReadOnlyCollection<string>? hostNames, CancellationToken cancellationToken = default) =>
        ControlAsync(jobName, hostNames, JobControlAction.Resume, cancellationToken);

    /// <summary>Cancels the job's unfinished targets; an install under way finishes and reports its outcome.</summary>
    public Task<IReadOnlyList<DistJobStatus>> CancelAsync(string jobName, IReadOnlyCollection<string>? hostNames, CancellationToken cancellationToken = default) =>
        ControlAsync(jobName, hostNames, JobControlAction.Cancel, cancellationToken);

    /// <summary>Applies one control action by compare-and-set and returns the status of the targets it changed.</summary>
    public async Task<IReadOnlyList<DistJobStatus>> ControlAsync(string jobName, IReadOnlyCollection<string>? hostNames, JobControlAction action, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(action switch
        {
            JobControlAction.Suspend => DistOperations.SuspendJob,
            JobControlAction.Resume => DistOperations.ResumeJob,
            _ => DistOperations.StopJob,
        }, jobName, cancellationToken);
        List<Guid> changed;
        string name;
        await using (var db = engine.Database.CreateContext())
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            var job = await FindRowAsync(db, jobName, cancellationToken);
            name = job.Name;
            var hostIds = await ChooseHostsAsync(db, job, hostNames, cancellationToken);
            var now = engine.Now;
            var targets = db.Targets.Where(t => t.JobId == job.Id && hostIds.Contains(t.HostId));
            switch (action)
            {
                case JobControlAction.Suspend:
                {
                    var from = TargetStates.Predecessors(TargetStatus.Suspended);
                    changed = await targets.Where(t => from.Contains(t.Status)).Select(t => t.HostId).ToListAsync(cancellationToken);
                    await TargetCounts.MoveAsync(db, targets, from, TargetStatus.Suspended, s => s
                        .SetProperty(t => t.Message, "Suspended by the administrator; Resume-DistJob resumes it where it stopped.")
                        .SetProperty(t => t.UpdatedAt, now), cancellationToken, job.Id);
                    break;
                }
                case JobControlAction.Resume:
                {
                    changed = await targets.Where(t => t.Status == TargetStatus.Suspended).Select(t => t.HostId).ToListAsync(cancellationToken);
                    // Whether an execution was dispatched is read under its row's lock: a dispatch claims that row first, so
                    // on PostgreSQL (where transactions run side by side) a resume either waits for a dispatch in progress
                    // and then sees it, or goes first and its Waiting targets are the dispatch's to queue. SQLite runs one
                    // writer at a time, where this is already so.
                    await db.JobExecutions.Where(x => targets.Any(t => t.ExecutionId == x.Id && t.Status == TargetStatus.Suspended))
                        .ExecuteUpdateAsync(s => s.SetProperty(x => x.DispatchedAt, x => x.DispatchedAt), cancellationToken);
                    // Back to where the execution is: Queued once it was dispatched, Waiting (for its execution time) before.
                    await TargetCounts.MoveAsync(db, targets.Where(t => db.JobExecutions.Any(x => x.Id == t.ExecutionId && x.DispatchedAt != null)),
                        [TargetStatus.Suspended], TargetStatus.Queued, s => s
                            .SetProperty(t => t.QueuedAt, t => t.QueuedAt ?? now)
                            .SetProperty(t => t.Message, (string?)null)
                            .SetProperty(t => t.UpdatedAt, now), cancellationToken, job.Id);
                    await TargetCounts.MoveAsync(db, targets, [TargetStatus.Suspended], TargetStatus.Waiting, s => s
                        .SetProperty(t => t.Message, (string?)null)
                        .SetProperty(t => t.UpdatedAt, now), cancellationToken, job.Id);
                    break;
                }
                default:
                {
                    var from = TargetStates.Predecessors(TargetStatus.Canceled);
                    changed = await targets.Where(t => from.Contains(t.Status)).Select(t => t.HostId).ToListAsync(cancellationToken);
                    await TargetCounts.MoveAsync(db, targets, from, TargetStatus.Canceled, s => s
                        .SetProperty(t => t.Message, "Canceled by the administrator.")
                        .SetProperty(t => t.CompletedAt, now)
                        .SetProperty(t => t.UpdatedAt, now), cancellationToken, job.Id);
                    break;
                }
            }
            if (changed.Count == 0)
            {
                var verb = action switch { JobControlAction.Suspend => "suspend", JobControlAction.Resume => "resume", _ => "cancel" };
                var what = action == JobControlAction.Resume ? "suspended" : "unfinished (and not installing)";
                throw new DistException($"NothingTo{action}", DistErrorKind.InvalidOperation,
                    $"Job '{job.Name}' has no {what} target{(hostNames is { Count: > 0 } ? $" on {string.Join(", ", hostNames)}" : "")} to {verb}.", job.Name);
            }
            change.Record(db, job.Name, new { Host = hostNames is { Count: > 0 } ? hostNames : null, Changed = changed.Count });
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        // Resumed targets are served at once; relays learn of a suspension or cancellation at once too (they answer
        // their clients' progress from their snapshot of the work).
        await engine.Managers.NudgeAsync(cancellationToken);
        var status = await GetStatusAsync(new JobStatusQuery(name), cancellationToken);
        return status.Where(s => changed.Contains(s.HostId)).ToList();
    }

    /// <summary>
    /// The hosts the action applies to: those the job reached when it was executed (its targets), all of them or the ones
    /// named. Its targets, not its destinations: a destination may be a host group, an ID group or a relay whose clients
    /// the execution expanded, and a host named by a destination but not reached yet has nothing to act on.
    /// </summary>
    private static async Task<List<Guid>> ChooseHostsAsync(DistDbContext db, JobRow job, IReadOnlyCollection<string>? hostNames, CancellationToken cancellationToken)
    {
        var destinations = await (from t in db.Targets
                                  join h in db.Hosts on t.HostId equals h.Id
                                  where t.JobId == job.Id
                                  select new { h.Id, h.NameKey }).ToListAsync(cancellationToken);
        if (hostNames is not { Count: > 0 })
        {
            return destinations.Select(d => d.Id).ToList();
        }
        var missing = hostNames.Where(n => destinations.All(d => d.NameKey != Names.Key(n))).ToList();
        if (missing.Count > 0)
        {
            throw new DistException("HostNotInJob", DistErrorKind.NotFound,
                $"Job '{job.Name}' has not reached a host named {string.Join(", ", missing.Select(m => $"'{m}'"))}; Get-DistJobStatus lists the hosts it reached.", missing[0]);
        }
        var keys = hostNames.Select(Names.Key).ToHashSet();
        return destinations.Where(d => keys.Contains(d.NameKey)).Select(d => d.Id).ToList();
    }
}
