using System.Runtime.CompilerServices;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Conditions;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Hosts;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Jobs;

/// <summary>
/// Creates, executes and re-executes jobs and reads their status. Executing records intent only
/// (an execution row and Waiting targets); the manager's scheduler dispatches it.
/// </summary>
public sealed partial class JobService(DistEngine engine) : IJobService
{
    /// <summary>Saves a job; every destination must be a registered host and the package must exist.</summary>
    public async Task<DistJob> CreateAsync(NewJobRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var change = await engine.Audit.AuthorizeAsync(DistOperations.NewJob, request.Name, cancellationToken);
        var name = Names.Require(request.Name, "Job");
        if (request.Type is not (JobType.Install or JobType.TransferToRelay or JobType.UserChoice))
        {
            throw new DistException("JobTypeNotSupported", DistErrorKind.InvalidArgument,
                $"Job type '{request.Type}' is not one; use -Type Install, TransferToRelay or UserChoice.", request.Type);
        }
        if (request.Type == JobType.TransferToRelay)
        {
            CheckTransferToRelay(request);
        }
        if (request.SegmentIntervalSeconds is < 0 or > NewJobRequest.MaxSegmentIntervalSeconds || double.IsNaN(request.SegmentIntervalSeconds))
        {
            throw new DistException("SegmentIntervalOutOfRange", DistErrorKind.InvalidArgument,
                $"The segment interval {request.SegmentIntervalSeconds} s is out of range: use 0 to {NewJobRequest.MaxSegmentIntervalSeconds} seconds.", request.SegmentIntervalSeconds);
        }
        if (request.BandwidthLimitKBps < 0)
        {
            throw new DistException("BandwidthLimitOutOfRange", DistErrorKind.InvalidArgument,
                $"The bandwidth limit {request.BandwidthLimitKBps} KB/s must not be negative (0 means no limit).", request.BandwidthLimitKBps);
        }
        if (request.WakeLeadMinutes is < 0 or > NewJobRequest.MaxWakeLeadMinutes)
        {
            throw new DistException("WakeLeadOutOfRange", DistErrorKind.InvalidArgument,
                $"The wake lead of {request.WakeLeadMinutes} minutes is out of range: use 0 to {NewJobRequest.MaxWakeLeadMinutes} minutes before the distribution time.", request.WakeLeadMinutes);
        }
        if (request.PreDownload && request.Type != JobType.UserChoice)
        {
            // Only an offer waits for its user; any other job downloads at once anyway.
            throw new DistException("PreDownloadNotUserChoice", DistErrorKind.InvalidArgument,
                $"-PreDownload downloads the package of a user-choice job before the user chooses it; it cannot be used with -Type {request.Type} (use -Type UserChoice).", request.PreDownload);
        }
        if (request.WakeLeadMinutes > 0 && !request.WakeOnLan)
        {
            throw new DistException("WakeLeadWithoutWakeOnLan", DistErrorKind.InvalidArgument,
                "-WakeLeadMinutes says how long before the distribution time the targets are woken; it needs -WakeOnLan.", request.WakeLeadMinutes);
        }
        var conditions = request.InstallConditions is { IsEmpty: false } given ? InstallConditionReader.Validate(given) : null;
        var destinations = request.Destinations?.Where(d => !string.IsNullOrWhiteSpace(d)).Select(d => d.Trim()).ToList() ?? [];
        // Host groups next to hosts: one job for "these computers and everyone in Sales".
        var extraGroups = request.HostGroups?.Where(d => !string.IsNullOrWhiteSpace(d)).Select(d => d.Trim()).ToList() ?? [];
        if (extraGroups.Count > 0 && request.DestinationType != DestinationType.Host)
        {
            throw new DistException("HostGroupWithDestinationType", DistErrorKind.InvalidArgument,
                $"-HostGroup adds host groups to hosts; with -DestinationType {request.DestinationType} name the groups in -Destination instead.", request.DestinationType);
        }
        if (destinations.Count == 0 && extraGroups.Count == 0)
        {
            throw new DistException("JobDestinationMissing", DistErrorKind.InvalidArgument, "The job names no destination host.");
        }
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var key = Names.Key(name);
        if (await db.Jobs.AnyAsync(j => j.NameKey == key, cancellationToken))
        {
            throw JobAlreadyExists(name);
        }
        var package = await engine.Packages.FindRowAsync(db, request.PackageName, request.PackageVersion, cancellationToken);
        if (request.RetryLimit < 0)
        {
            throw new DistException("RetryLimitInvalid", DistErrorKind.InvalidArgument, $"The retry limit {request.RetryLimit} is negative.", request.RetryLimit);
        }
        List<JobDestinationRow> hostDestinations = [];
        List<JobHostGroupRow> groupDestinations = [];
        int? idGroupId = null;
        switch (request.DestinationType)
        {
            case DestinationType.Host or DestinationType.AllLowerClients:
                var hosts = await HostService.FindHostsAsync(db, destinations, cancellationToken);
                // Only relays have lower clients, and only relays store packages for them.
                if ((request.DestinationType == DestinationType.AllLowerClients || request.Type == JobType.TransferToRelay)
                    && hosts.FirstOrDefault(h => h.Kind != HostKind.Relay) is { } notRelay)
                {
                    throw HostService.HostNotRelay(notRelay.Name);
                }
                hostDestinations = hosts.Select(h => new JobDestinationRow { HostId = h.Id }).ToList();
                if (extraGroups.Count > 0)
                {
                    var named = await Groups.HostGroupService.FindRowsAsync(db, extraGroups, cancellationToken);
                    if (request.Type == JobType.TransferToRelay)
                    {
                        await RelaysOfGroupsAsync(db, named, cancellationToken);
                    }
                    groupDestinations = named.Select(g => new JobHostGroupRow { HostGroupId = g.Id }).ToList();
                }
                break;
            case DestinationType.HostGroup:
                var groups = await Groups.HostGroupService.FindRowsAsync(db, destinations, cancellationToken);
                if (request.Type == JobType.TransferToRelay)
                {
                    await RelaysOfGroupsAsync(db, groups, cancellationToken);
                }
                groupDestinations = groups.Select(g => new JobHostGroupRow { HostGroupId = g.Id }).ToList();
                break;
            case DestinationType.IdGroup:
                if (destinations.Distinct(StringComparer.OrdinalIgnoreCase).Count() != 1)
                {
                    throw new DistException("IdGroupDestinationInvalid", DistErrorKind.InvalidArgument,
                        $"A job is executed for one ID group; {destinations.Count} were named ({string.Join(", ", destinations)}).", destinations[0]);
                }
                idGroupId = (await Groups.IdGroupService.FindRowAsync(db, destinations[0], cancellationToken)).Id;
                break;
            default:
                throw new DistException("DestinationTypeInvalid", DistErrorKind.InvalidArgument, $"'{request.DestinationType}' is not a destination type.", request.DestinationType);
        }
        var row = new JobRow
        {
            Name = name,
            NameKey = key,
            PackageId = package.Id,
            Type = request.Type,
            DistributeAt = request.DistributeAt?.ToUniversalTime(),
            Description = request.Description,
            CreatedAt = engine.Now,
            DestinationType = request.DestinationType,
            IdGroupId = idGroupId,
            RetryLimit = request.RetryLimit,
            InstallConditionsJson = conditions is null ? null : JsonSerializer.Serialize(conditions, ProtocolJson.Options),
            InstallAt = request.InstallAt?.ToUniversalTime(),
            SegmentIntervalSeconds = request.SegmentIntervalSeconds,
            BandwidthLimitKBps = request.BandwidthLimitKBps,
            RebootAfter = request.RebootAfter,
            ShutdownAfter = request.ShutdownAfter,
            WakeOnLan = request.WakeOnLan,
            WakeLeadMinutes = request.WakeLeadMinutes,
            PreDownload = request.PreDownload,
        };
        db.Jobs.Add(row);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            foreach (var group in groupDestinations)
            {
                group.JobId = row.Id;
            }
            db.JobHostGroups.AddRange(groupDestinations);
            db.JobTargetCounts.AddRange(TargetCounts.NewJob(row.Id));
            // Multi-row INSERTs, not tracked entities (a job naming 100,000 hosts spent most of its 26 s tracking and saving them).
            await MultiRowInsert.ExecuteAsync(db, "JobDestinations", ["HostId"], hostDestinations.Select(d => new object?[] { d.HostId }).ToList(),
                cancellationToken, [("JobId", row.Id)]);
            change.Record(db, name, request);
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException e) when (StorageErrors.IsDuplicate(e))
        {
            throw JobAlreadyExists(name);
        }
        await transaction.CommitAsync(cancellationToken);
        return (await ListAsync(name, cancellationToken)).Single();
    }

    /// <summary>
    /// When the manager wakes an execution's targets: -WakeLeadMinutes before its time, at once when that has passed (an
    /// execution now wakes at once); null for a job without -WakeOnLan.
    /// </summary>
    private static DateTime? WakeAt(JobRow job, DateTime? executeAt, DateTime now)
    {
        if (!job.WakeOnLan)
        {
            return null;
        }
        var at = (executeAt ?? now) - TimeSpan.FromMinutes(job.WakeLeadMinutes);
        return at > now ? at : now;
    }

    /// <summary>
    /// A transfer-to-relay job only stores the package on relays: install conditions and an install time mean nothing
    /// for it, and an ID group (clients joining later) is not a set of relays.
    /// </summary>
    private static void CheckTransferToRelay(NewJobRequest request)
    {
        var installOnly = new List<string>();
        if (request.InstallConditions is { IsEmpty: false })
        {
            installOnly.Add("-InstallCondition");
        }
        if (request.InstallAt is not null)
        {
            installOnly.Add("-InstallAt");
        }
        if (request.RebootAfter)
        {
            installOnly.Add("-RebootAfter");
        }
        if (request.ShutdownAfter)
        {
            installOnly.Add("-ShutdownAfter");
        }
        if (installOnly.Count > 0)
        {
            throw new DistException("InstallSettingNotForTransfer", DistErrorKind.InvalidArgument,
                $"A TransferToRelay job stores the package on relays and installs nothing, so {string.Join(" and ", installOnly)} cannot be used with it; " +
                "give them to the Install job that follows.", installOnly[0]);
        }
        if (request.DestinationType == DestinationType.IdGroup)
        {
            throw new DistException("DestinationTypeInvalid", DistErrorKind.InvalidArgument,
                "A TransferToRelay job goes to relays: name them as hosts, host groups, or AllLowerClients of a relay; an ID group is not available for it.", request.DestinationType);
        }
    }

    /// <summary>The relays each host group reaches (nested groups included); a group that reaches no relay is refused, named.</summary>
    private static async Task<HashSet<Guid>> RelaysOfGroupsAsync(DistDbContext db, IReadOnlyList<HostGroupRow> groups, CancellationToken cancellationToken)
    {
        var relays = (await db.Hosts.AsNoTracking().Where(h => h.Kind == HostKind.Relay).Select(h => h.Id).ToListAsync(cancellationToken)).ToHashSet();
        var found = new HashSet<Guid>();
        foreach (var group in groups)
        {
            var members = (await Groups.HostGroupService.HostsOfAsync(db, [group.Id], cancellationToken)).Where(h => relays.Contains(h.Id)).ToList();
            if (members.Count == 0)
            {
                throw new DistException("HostGroupHasNoRelay", DistErrorKind.InvalidArgument,
                    $"Host group '{group.Name}' has no relay among its hosts; a TransferToRelay job stores packages on relays only.", group.Name);
            }
            found.UnionWith(members.Select(h => h.Id));
        }
        return found;
    }

    /// <summary>Jobs whose names match the wildcard pattern.</summary>
    public async Task<IReadOnlyList<DistJob>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var rows = await (from j in db.Jobs.AsNoTracking()
                          join p in db.Packages on j.PackageId equals p.Id
                          orderby j.NameKey
                          select new { Job = j, p.Name, p.Version }).ToListAsync(cancellationToken);
        var matcher = Wildcard.For(namePattern);
        rows = rows.Where(r => matcher(r.Job.Name)).ToList();
        var ids = rows.Select(r => r.Job.Id).ToArray();
        var destinations = await (from d in db.JobDestinations
                                  join h in db.Hosts on d.HostId equals h.Id
                                  where ids.Contains(d.JobId)
                                  orderby h.NameKey
                                  select new { d.JobId, h.Name }).ToListAsync(cancellationToken);
        var groups = await (from d in db.JobHostGroups
                            join g in db.HostGroups on d.HostGroupId equals g.Id
                            where ids.Contains(d.JobId)
                            orderby g.NameKey
                            select new { d.JobId, g.Name }).ToListAsync(cancellationToken);
        var idGroups = await db.IdGroups.AsNoTracking().ToDictionaryAsync(g => g.Id, g => g.Name, cancellationToken);
        var byJob = destinations.Concat(groups).ToLookup(d => d.JobId, d => d.Name);
        var counts = await TargetCounts.ReadAsync(db, ids, cancellationToken);
        return rows.Select(r => new DistJob(r.Job.Name, r.Name, r.Version, r.Job.Type,
            r.Job.IdGroupId is { } idGroup ? [idGroups[idGroup]] : byJob[r.Job.Id].ToList(),
            r.Job.DistributeAt.AsLocal(), r.Job.Description, r.Job.CreatedAt.AsLocal(), r.Job.ExecutionCount, r.Job.LastExecutedAt.AsLocal(), r.Job.Id,
            r.Job.DestinationType, r.Job.RetryLimit,
            PackageService.ReadConditions(r.Job.InstallConditionsJson), r.Job.InstallAt.AsLocal(), r.Job.SegmentIntervalSeconds, r.Job.BandwidthLimitKBps,
            r.Job.RebootAfter, r.Job.ShutdownAfter, r.Job.WakeOnLan, r.Job.WakeLeadMinutes, r.Job.PreDownload)
        {
            Targets = counts.GetValueOrDefault(r.Job.Id, DistJobTargetCounts.None),
        }).ToList();
    }

    /// <summary>
    /// Executes a job: every destination gets a new attempt in Waiting, and the manager dispatches it at the
    /// job's execution time. Destinations still busy with an earlier execution keep going and are not restarted.
    /// </summary>
    public async Task<JobExecutionResult> StartAsync(string jobName, CancellationToken cancellationToken = default)
    {
        var result = await RecordExecutionAsync(jobName, hostNames: null, restart: false, cancellationToken);
        // The manager dispatches the execution and wakes its hosts then; the other waiting polls are left alone.
        await engine.Managers.NudgeAsync(wakePolls: false, cancellationToken);
        return result;
    }

    /// <summary>Re-executes a job for its failed hosts (all of them, or those named).</summary>
    public async Task<JobExecutionResult> RestartAsync(string jobName, IReadOnlyCollection<string>? hostNames, CancellationToken cancellationToken = default)
    {
        var result = await RecordExecutionAsync(jobName, hostNames, restart: true, cancellationToken);
        await engine.Managers.NudgeAsync(wakePolls: false, cancellationToken);
        return result;
    }

    private async Task<JobExecutionResult> RecordExecutionAsync(string jobName, IReadOnlyCollection<string>? hostNames, bool restart, CancellationToken cancellationToken)
    {
        var change = await engine.Audit.AuthorizeAsync(restart ? DistOperations.RestartJob : DistOperations.StartJob, jobName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var job = await FindRowAsync(db, jobName, cancellationToken);
        // One execution of a job at a time: its row is locked until this transaction ends, and read again under the lock
        // (on PostgreSQL transactions run side by side; SQLite runs one writer at a time, where this changes nothing).
        await db.Jobs.Where(j => j.Id == job.Id).ExecuteUpdateAsync(s => s.SetProperty(j => j.ExecutionCount, j => j.ExecutionCount), cancellationToken);
        await db.Entry(job).ReloadAsync(cancellationToken);
        var now = engine.Now;
        // A re-execution considers the hosts the job already reached (ID group members that left included).
        var destinationHosts = restart
            ? await (from t in db.Targets join h in db.Hosts on t.HostId equals h.Id where t.JobId == job.Id select new DestinationHost(h.Id, h.Name, h.NameKey)).ToListAsync(cancellationToken)
            : await ExpandAsync(db, job, cancellationToken);
        var targets = await db.Targets.Where(t => t.JobId == job.Id).ToDictionaryAsync(t => t.HostId, cancellationToken);
        var package = await db.Packages.AsNoTracking().FirstAsync(p => p.Id == job.PackageId, cancellationToken);

        var chosen = destinationHosts;
        if (hostNames is { Count: > 0 })
        {
            var keys = hostNames.Select(Names.Key).ToHashSet();
            chosen = destinationHosts.Where(h => keys.Contains(h.NameKey)).ToList();
            var missing = hostNames.Where(n => chosen.All(h => h.NameKey != Names.Key(n))).ToList();
            if (missing.Count > 0)
            {
                throw new DistException("HostNotInJob", DistErrorKind.NotFound,
                    $"Job '{job.Name}' has no destination named {string.Join(", ", missing.Select(m => $"'{m}'"))}.", missing[0]);
            }
        }
        if (restart)
        {
            chosen = chosen.Where(h => targets.TryGetValue(h.Id, out var t) && t.Status == TargetStatus.Failed).ToList();
            if (chosen.Count == 0)
            {
                throw new DistException("NoFailedTargets", DistErrorKind.InvalidOperation,
                    hostNames is { Count: > 0 }
                        ? $"Job '{job.Name}' has not failed on {string.Join(", ", hostNames)}; only failed hosts are re-executed."
                        : $"Job '{job.Name}' has no failed hosts to re-execute.", job.Name);
            }
        }
        else
        {
            var busy = chosen.Where(h => targets.TryGetValue(h.Id, out var t) && !t.Status.IsFinal()).ToList();
            chosen = chosen.Except(busy).ToList();
            // A relay that holds the package with its current expiry is not sent it again (other jobs' copies: at dispatch).
            var stored = chosen.Where(h => targets.TryGetValue(h.Id, out var t) && IsStillStored(t, package, now)).ToList();
            chosen = chosen.Except(stored).ToList();
            if (chosen.Count == 0 && stored.Count > 0)
            {
                throw new DistException("AlreadyStoredOnRelays", DistErrorKind.InvalidOperation,
                    $"Package '{package.Name}' {package.Version} is already stored on every relay of job '{job.Name}' " +
                    $"{(package.ExpiresAt is { } until ? $"until {until.ToLocalTime():yyyy-MM-dd HH:mm}" : "with no expiry")}; nothing is sent again before then " +
                    "(Set-DistPackage -ExpiresAt changes the expiry, and the next execution sends it again).", job.Name);
            }
            // An ID group job may be executed while the group is empty: it reaches the hosts that join later.
            if (chosen.Count == 0 && job.DestinationType != DestinationType.IdGroup)
            {
                throw new DistException("JobAlreadyRunning", DistErrorKind.InvalidOperation,
                    $"Job '{job.Name}' is still running on every destination; wait for it (Wait-DistJob) before executing it again.", job.Name);
            }
        }

        var execution = new JobExecutionRow
        {
            JobId = job.Id,
            RequestedAt = now,
            ExecuteAt = restart ? null : job.DistributeAt,
            TargetCount = chosen.Count,
            IsRestart = restart,
            WakeAt = WakeAt(job, restart ? null : job.DistributeAt, now),
        };
        db.JobExecutions.Add(execution);
        await db.SaveChangesAsync(cancellationToken);

        var fresh = new List<Guid>();
        var again = new List<TargetStatus>(); // the statuses re-executed targets leave
        var reexecuted = new List<TargetRow>();
        var settings = AttemptSettings.For(engine, job, package);
        foreach (var host in chosen)
        {
            if (!targets.TryGetValue(host.Id, out var target))
            {
                fresh.Add(host.Id);
                continue;
            }
            again.Add(target.Status);
            target.Status = TargetStatus.Waiting;
            target.Attempt++;
            target.ExecutionId = execution.Id;
            target.WorkItemId = Guid.NewGuid();
            target.ExitCode = null;
            target.Message = null;
            target.PowerNote = null;
            target.OutputTail = null;
            target.BytesTransferred = 0;
            target.SegmentsTransferred = 0;
            target.StoredUntil = null;
            target.QueuedAt = null;
            target.StartedAt = null;
            target.ServedByHostId = null;
            target.CompletedAt = null;
            target.UpdatedAt = now;
            reexecuted.Add(target);
        }
        foreach (var (target, signed) in reexecuted.Zip(settings.SignAll(reexecuted.Select(t => (t.WorkItemId, t.HostId)).ToList())))
        {
            (target.JobSettingsJson, target.JobSettingsSignature, target.InstallAt, target.SettingsExpiresAt, target.SettingsSigningKey) =
                (signed.Json, signed.Signature, signed.InstallAt, signed.ExpiresAt, signed.KeyFingerprint);
        }
        if (!restart)
        {
            job.ExecutionCount++;
            job.LastExecutedAt = now;
        }
        change.Record(db, job.Name, new { Host = hostNames is { Count: > 0 } ? hostNames : null, ExecutionId = execution.Id, TargetCount = chosen.Count });
        // Status is a concurrency token: each target saved here moved from the status it was read with, or the save fails.
        await db.SaveChangesAsync(cancellationToken);
        foreach (var moved in again.GroupBy(from => from))
        {
            await TargetCounts.ApplyAsync(db, job.Id, moved.Key, TargetStatus.Waiting, moved.Count(), cancellationToken);
        }
        await InsertTargetsAsync(db, job.Id, settings, execution.Id, TargetStatus.Waiting, fresh, now, cancellationToken);
        await TargetCounts.ApplyAsync(db, job.Id, null, TargetStatus.Waiting, fresh.Count, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new JobExecutionResult(job.Name, execution.Id, chosen.Count, execution.ExecuteAt.AsLocal(), chosen.Select(h => h.Name).ToList());
    }

    /// <summary>A StoredOnRelay target whose expiry is still the package's and has not passed.</summary>
    internal static bool IsStillStored(TargetRow target, PackageRow package, DateTime now) =>
        target.Status == TargetStatus.StoredOnRelay && target.StoredUntil == package.ExpiresAt && (target.StoredUntil is null || target.StoredUntil > now);

    /// <summary>
    /// Writes the new targets of one execution, one per host, their settings signed together over every core, with
    /// multi-row INSERT statements instead of one tracked entity each: 10,000 hosts are about 360 statements, not 10,000.
    /// An execution writes them Waiting; hosts that join an ID group with executed jobs are written Queued when the
    /// execution is due (<see cref="Policies.PolicyEvaluator.JoinJobsAsync"/>), with the power note of an awake joiner.
    /// Parameters go through EF's type mappings, so ids and times are stored exactly as EF stores them. The rows the
    /// targets refer to (job, execution, hosts) must be saved before.
    /// </summary>
    internal static Task InsertTargetsAsync(DistDbContext db, int jobId, AttemptSettings settings, int executionId, TargetStatus status,
        IReadOnlyCollection<Guid> hostIds, DateTime now, CancellationToken cancellationToken, string? powerNote = null)
    {
        // In the order of the host ids as stored, so that the (JobId, HostId) and (HostId, Status) indexes grow at their end.
        var tickets = hostIds.OrderBy(id => id.ToString("D").ToUpperInvariant(), StringComparer.Ordinal).Select(hostId => (Ticket: Guid.NewGuid(), HostId: hostId)).ToList();
        var rows = tickets.Zip(settings.SignAll(tickets), (t, signed) =>
            new object?[] { t.HostId, t.Ticket, signed.InstallAt, signed.Json, signed.Signature, signed.ExpiresAt, signed.KeyFingerprint }).ToList();
        List<(string Column, object Value)> shared =
        [
            ("JobId", jobId), ("Status", (int)status), ("Attempt", 1), ("ExecutionId", executionId), ("BytesTransferred", 0L),
            ("UpdatedAt", now), ("CreatedAt", now), ("SegmentsTransferred", 0),
        ];
        if (status == TargetStatus.Queued)
        {
            shared.Add(("QueuedAt", now));
        }
        if (powerNote is not null)
        {
            shared.Add(("PowerNote", powerNote));
        }
        return MultiRowInsert.ExecuteAsync(db, "Targets", ["HostId", "WorkItemId", "InstallAt", "JobSettingsJson", "JobSettingsSignature", "SettingsExpiresAt", "SettingsSigningKey"],
            rows, cancellationToken, shared);
    }

    private sealed record DestinationHost(Guid Id, string Name, string NameKey);

    /// <summary>
    /// The hosts a job reaches now, each once: its hosts, every host under its host groups (nested groups
    /// included), the current members of its ID group, or every host below its relays at all levels. A
    /// TransferToRelay job reaches only the relays among them. Set-based: one query per kind, no per-host work.
    /// </summary>
    private static async Task<List<DestinationHost>> ExpandAsync(DistDbContext db, JobRow job, CancellationToken cancellationToken)
    {
        switch (job.DestinationType)
        {
            case DestinationType.HostGroup:
                var groupIds = await db.JobHostGroups.Where(d => d.JobId == job.Id).Select(d => d.HostGroupId).ToListAsync(cancellationToken);
                var groupHosts = (await Groups.HostGroupService.HostsOfAsync(db, groupIds, cancellationToken)).Select(h => new DestinationHost(h.Id, h.Name, h.NameKey)).ToList();
                if (job.Type != JobType.TransferToRelay)
                {
                    return groupHosts;
                }
                var groups = await db.HostGroups.AsNoTracking().Where(g => groupIds.Contains(g.Id)).ToListAsync(cancellationToken);
                var relays = await RelaysOfGroupsAsync(db, groups, cancellationToken);
                return groupHosts.Where(h => relays.Contains(h.Id)).ToList();
            case DestinationType.IdGroup:
                return job.IdGroupId is { } idGroupId
                    ? (await Groups.IdGroupService.MembersOfAsync(db, idGroupId, cancellationToken)).Select(h => new DestinationHost(h.Id, h.Name, h.NameKey)).ToList()
                    : [];
            case DestinationType.AllLowerClients:
                return await LowerHostsAsync(db, job, cancellationToken);
            default:
                var named = await (from d in db.JobDestinations
                                   join h in db.Hosts on d.HostId equals h.Id
                                   where d.JobId == job.Id && (job.Type != JobType.TransferToRelay || h.Kind == HostKind.Relay)
                                   orderby h.NameKey
                                   select new DestinationHost(h.Id, h.Name, h.NameKey)).ToListAsync(cancellationToken);
                // Host groups named next to the hosts (-HostGroup): their hosts too, each host once.
                var extra = await db.JobHostGroups.Where(d => d.JobId == job.Id).Select(d => d.HostGroupId).ToListAsync(cancellationToken);
                if (extra.Count == 0)
                {
                    return named;
                }
                var inGroups = await Groups.HostGroupService.HostsOfAsync(db, extra, cancellationToken);
                var relaysOnly = job.Type == JobType.TransferToRelay
                    ? (await db.Hosts.Where(h => h.Kind == HostKind.Relay).Select(h => h.Id).ToListAsync(cancellationToken)).ToHashSet()
                    : null;
                var seen = named.Select(h => h.Id).ToHashSet();
                return named.Concat(inGroups.Where(h => (relaysOnly is null || relaysOnly.Contains(h.Id)) && seen.Add(h.Id))
                        .Select(h => new DestinationHost(h.Id, h.Name, h.NameKey)))
                    .OrderBy(h => h.NameKey, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>
    /// Every host below the job's relays, at all levels and each once (a relay below another named relay too); not the
    /// named relays themselves, unless one is below another. Hosts that register under a relay later are not added:
    /// a re-execution reaches them.
    /// </summary>
    private static async Task<List<DestinationHost>> LowerHostsAsync(DistDbContext db, JobRow job, CancellationToken cancellationToken)
    {
        var relayIds = await db.JobDestinations.Where(d => d.JobId == job.Id).Select(d => d.HostId).ToListAsync(cancellationToken);
        var below = new HashSet<Guid>();
        foreach (var relayId in relayIds)
        {
            below.UnionWith(await HostTree.DescendantsAsync(db, relayId, cancellationToken));
        }
        var ids = below.ToList();
        var hosts = await db.Hosts.AsNoTracking()
            .Where(h => ids.Contains(h.Id) && (job.Type != JobType.TransferToRelay || h.Kind == HostKind.Relay))
            .OrderBy(h => h.NameKey)
            .Select(h => new DestinationHost(h.Id, h.Name, h.NameKey)).ToListAsync(cancellationToken);
        if (hosts.Count == 0)
        {
            var names = await db.Hosts.Where(h => relayIds.Contains(h.Id)).OrderBy(h => h.NameKey).Select(h => h.Name).ToListAsync(cancellationToken);
            throw new DistException("NoLowerClients", DistErrorKind.InvalidOperation,
                job.Type == JobType.TransferToRelay
                    ? $"No relay is registered below {string.Join(", ", names.Select(n => $"'{n}'"))}; job '{job.Name}' has nowhere to store the package."
                    : $"No host is registered below {string.Join(", ", names.Select(n => $"'{n}'"))}; job '{job.Name}' has no lower clients to reach yet.", job.Name);
        }
        return hosts;
    }

    /// <summary>One object per (job, host), filtered; a waiting target says so when no manager runs.</summary>
    public async Task<IReadOnlyList<DistJobStatus>> GetStatusAsync(JobStatusQuery query, CancellationToken cancellationToken = default) =>
        await StreamStatusAsync(query, cancellationToken).ToListAsync(cancellationToken);

    /// <summary>
    /// The rows of <see cref="GetStatusAsync"/> streamed as they are read, in job then host name order: for one host, from
    /// one reader (a few rows, sorted); otherwise job by job in name order, each job from its own reader in host name order
    /// without a sort before its first row once it has more than <see cref="SortedRowsLimit"/> rows to show.
    /// </summary>
    /// <remarks>
    /// SQLite, with no statistics, expects few targets per job: it reads them and sorts them all by host name before the
    /// first row (100,000 targets: about a second; 20,000: 0.15 s). A job with more rows to show than
    /// <see cref="SortedRowsLimit"/> is read in host name order instead: the hosts' (NameKey, Id) index in the outer loop,
    /// one probe of (JobId, HostId) per host, the first row at once, at the cost of a pass over that index (0.75 µs a host).
    /// The number of rows is read from the kept counts (<see cref="TargetCounts"/>) of the statuses asked for. Each job is
    /// read as it is when its turn comes; a wildcard reads the jobs one after the other, not in one snapshot.
    /// On PostgreSQL the host-order read asks for its first <see cref="HostOrderFirst"/> rows apart, then for the rest after
    /// the last host of those. PostgreSQL plans a query for its total cost: read whole, it hashed every target and sorted
    /// them all before the first row (100,000 targets: about 200 ms). Asked for a few rows, it walks the hosts' name index
    /// and probes each host's target, the first row at once; the rest is hashed and sorted then, about four times faster
    /// than probing target by target. The rest is read as it is when its turn comes.
    /// </remarks>
    public async IAsyncEnumerable<DistJobStatus> StreamStatusAsync(JobStatusQuery query, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var oneJob = query.JobName is not null && !Wildcard.HasWildcard(query.JobName);
        var oneHost = query.HostName is not null && !Wildcard.HasWildcard(query.HostName);
        var statuses = query.Statuses is { Count: > 0 } asked ? asked.Distinct().ToList() : null;
        var jobMatch = Wildcard.For(query.JobName);
        var hostMatch = Wildcard.For(query.HostName);
        var job = oneJob ? await FindRowAsync(db, query.JobName!, cancellationToken) : null; // an unknown job is refused before any row
        bool? managerAlive = null; // asked once, at the first waiting target
        if (oneHost)
        {
            var hostKey = Names.Key(query.HostName!);
            var rows = Filtered(StatusRows(db).Where(r => r.HostKey == hostKey), job?.NameKey, statuses);
            await foreach (var row in ReadAsync(rows))
            {
                yield return row;
            }
            yield break;
        }
        var jobs = job is not null
            ? [(job.Id, job.Name, job.NameKey)]
            : (await db.Jobs.AsNoTracking().OrderBy(j => j.NameKey).Select(j => new { j.Id, j.Name, j.NameKey }).ToListAsync(cancellationToken))
                .Where(j => jobMatch(j.Name)).Select(j => (j.Id, j.Name, j.NameKey)).ToList();
        var ids = jobs.Select(j => j.Id).ToList();
        var shown = (await db.JobTargetCounts.AsNoTracking().Where(c => ids.Contains(c.JobId) && c.Count > 0).Select(c => new { c.JobId, c.Status, c.Count }).ToListAsync(cancellationToken))
            .Where(c => statuses is null || statuses.Contains(c.Status)).GroupBy(c => c.JobId).ToDictionary(g => g.Key, g => g.Sum(c => c.Count));
        // Every job is read, whatever its counts say: they choose the plan only.
        foreach (var (id, _, key) in jobs)
        {
            // The job's id as well as its name: PostgreSQL then plans with what it knows of that job's targets.
            var hostOrder = shown.GetValueOrDefault(id) > SortedRowsLimit;
            var rows = Filtered(hostOrder ? StatusRowsInHostOrder(db) : StatusRows(db), key, statuses).Where(r => r.JobId == id);
            // In one query; or, in host name order on PostgreSQL, the first rows apart, then the rest after the last host of them.
            if ((hostOrder ? HostOrderFirst ?? (engine.Database.IsPostgreSql ? 500 : null) : null) is not { } apart || apart <= 0)
            {
                await foreach (var status in ReadAsync(rows))
                {
                    yield return status;
                }
                continue;
            }
            var read = 0;
            string? after = null;
            await foreach (var r in Ordered(rows).Take(apart).AsAsyncEnumerable().WithCancellation(cancellationToken))
            {
                read++;
                after = r.HostKey;
                if (await ShownAsync(r) is { } status)
                {
                    yield return status;
                }
            }
            if (read == apart)
            {
                await foreach (var status in ReadAsync(rows.Where(r => string.Compare(r.HostKey, after) > 0)))
                {
                    yield return status;
                }
            }
        }

        async IAsyncEnumerable<DistJobStatus> ReadAsync(IQueryable<StatusRow> rows)
        {
            await foreach (var r in Ordered(rows).AsAsyncEnumerable().WithCancellation(cancellationToken))
            {
                if (await ShownAsync(r) is { } status)
                {
                    yield return status;
                }
            }
        }

        // A row as it is shown; null for one the name patterns leave out.
        async ValueTask<DistJobStatus?> ShownAsync(StatusRow r)
        {
            if (!jobMatch(r.JobName) || !hostMatch(r.HostName))
            {
                return null;
            }
            if (r.Status == TargetStatus.Waiting)
            {
                managerAlive ??= await engine.Managers.AnyAliveAsync(cancellationToken);
            }
            return new DistJobStatus(r.JobName, r.HostName, r.Status, r.ExitCode,
                r.Status == TargetStatus.Waiting && managerAlive == false ? DistJobStatus.NoManagerMessage : WithPowerNote(r.Message, r.PowerNote),
                r.Attempt, r.QueuedAt.AsLocal(), r.StartedAt.AsLocal(), r.CompletedAt.AsLocal(), r.UpdatedAt.AsLocal(), r.BytesTransferred, r.OutputTail,
                r.JobId, r.HostId, r.CreatedAt.AsLocal(), r.SegmentsTransferred, r.SegmentCount, r.TotalBytes, r.InstallAt.AsLocal(), r.StoredUntil.AsLocal(),
                r.StartedAt is null ? null : r.ServedBy ?? (r.ServedByHostId is { } relay ? relay.ToString() : DistHost.ManagerHigherSystem));
        }
    }

    /// <summary>Status rows in the order they are shown: by job, then by host name.</summary>
    private static IQueryable<StatusRow> Ordered(IQueryable<StatusRow> rows) => rows.OrderBy(r => r.JobKey).ThenBy(r => r.HostKey);

    /// <summary>Status rows of one job (by its name key) when given, in the statuses asked for when given.</summary>
    private static IQueryable<StatusRow> Filtered(IQueryable<StatusRow> rows, string? jobKey, List<TargetStatus>? statuses)
    {
        if (jobKey is not null)
        {
            rows = rows.Where(r => r.JobKey == jobKey);
        }
        return statuses is null ? rows : rows.Where(r => statuses.Contains(r.Status));
    }

    /// <summary>
    /// The most rows of one job read by target and sorted before the first (4,000: about 40 ms on a loaded 2-core machine);
    /// a job with more is read in host name order from the hosts' index (see <see cref="StreamStatusAsync"/>). Tests lower
    /// it to read small jobs both ways.
    /// </summary>
    internal int SortedRowsLimit { get; set; } = 4_000;

    /// <summary>
    /// The rows of a job read in host name order that are asked for apart, first (<see cref="StreamStatusAsync"/>): a query
    /// for this many rows PostgreSQL plans for its first rows; the rest come from a second query. Null: 500 on PostgreSQL,
    /// none (one query, as with 0) on SQLite, whose plan reads in host order as it goes (its second query would pass over
    /// the hosts' name index without their ids, a table lookup per host). Tests set it to read both ways on both.
    /// </summary>
    internal int? HostOrderFirst { get; set; }

    /// <summary>The columns a status row shows (not the signed settings, which are most of a target's bytes).</summary>
    private sealed class StatusRow
    {
        public string JobName { get; init; } = "";
        public string JobKey { get; init; } = "";
        public string HostName { get; init; } = "";
        public string HostKey { get; init; } = "";
        public TargetStatus Status { get; init; }
        public int? ExitCode { get; init; }
        public string? Message { get; init; }
        public string? PowerNote { get; init; }
        public int Attempt { get; init; }
        public DateTime? QueuedAt { get; init; }
        public DateTime? StartedAt { get; init; }
        public DateTime? CompletedAt { get; init; }
        public DateTime UpdatedAt { get; init; }
        public DateTime CreatedAt { get; init; }
        public long BytesTransferred { get; init; }
        public string? OutputTail { get; init; }
        public int JobId { get; init; }
        public Guid HostId { get; init; }
        public int SegmentsTransferred { get; init; }
        public int SegmentCount { get; init; }
        public long TotalBytes { get; init; }
        public DateTime? InstallAt { get; init; }
        public DateTime? StoredUntil { get; init; }
        public Guid? ServedByHostId { get; init; }
        public string? ServedBy { get; init; }
    }

    /// <summary>The rows a status query joins, before they become <see cref="StatusRow"/>s by <see cref="ToStatusRow"/>.</summary>
    private sealed class StatusJoin
    {
        public required JobRow Job { get; init; }
        public required HostRow Host { get; init; }
        public required TargetRow Target { get; init; }
        public required PackageRow Package { get; init; }
        public HostRow? ServedBy { get; init; }
    }

    /// <summary>The one projection of a status row: both join orders below read exactly these columns.</summary>
    private static readonly System.Linq.Expressions.Expression<Func<StatusJoin, StatusRow>> ToStatusRow = r => new StatusRow
    {
        JobName = r.Job.Name, JobKey = r.Job.NameKey, HostName = r.Host.Name, HostKey = r.Host.NameKey, Status = r.Target.Status, ExitCode = r.Target.ExitCode,
        Message = r.Target.Message, PowerNote = r.Target.PowerNote, Attempt = r.Target.Attempt, QueuedAt = r.Target.QueuedAt, StartedAt = r.Target.StartedAt,
        CompletedAt = r.Target.CompletedAt, UpdatedAt = r.Target.UpdatedAt, CreatedAt = r.Target.CreatedAt, BytesTransferred = r.Target.BytesTransferred,
        OutputTail = r.Target.OutputTail, JobId = r.Target.JobId, HostId = r.Target.HostId, SegmentsTransferred = r.Target.SegmentsTransferred,
        SegmentCount = r.Package.SegmentCount, TotalBytes = r.Package.TotalBytes, InstallAt = r.Target.InstallAt, StoredUntil = r.Target.StoredUntil,
        ServedByHostId = r.Target.ServedByHostId, ServedBy = r.ServedBy == null ? null : r.ServedBy.Name,
    };

    /// <summary>Targets joined with their job, host and package: SQLite chooses the order (by target, then sorts).</summary>
    private static IQueryable<StatusRow> StatusRows(DistDbContext db) =>
        (from t in db.Targets.AsNoTracking()
         join j in db.Jobs on t.JobId equals j.Id
         join h in db.Hosts on t.HostId equals h.Id
         join p in db.Packages on j.PackageId equals p.Id
         from s in db.Hosts.Where(s => s.Id == t.ServedByHostId).DefaultIfEmpty()
         select new StatusJoin { Job = j, Host = h, Target = t, Package = p, ServedBy = s }).Select(ToStatusRow);

    /// <summary>
    /// The same rows with the hosts as the outer loop: CROSS JOIN fixes SQLite's join order (job, then hosts by their
    /// name index, then the target by (JobId, HostId)), so the rows come in host name order without a sort.
    /// </summary>
    private static IQueryable<StatusRow> StatusRowsInHostOrder(DistDbContext db) =>
        (from j in db.Jobs.AsNoTracking()
         from h in db.Hosts
         from t in db.Targets
         where t.JobId == j.Id && t.HostId == h.Id
         join p in db.Packages on j.PackageId equals p.Id
         from s in db.Hosts.Where(s => s.Id == t.ServedByHostId).DefaultIfEmpty()
         select new StatusJoin { Job = j, Host = h, Target = t, Package = p, ServedBy = s }).Select(ToStatusRow);

    /// <summary>A target's message followed by what Wake-on-LAN or a -ShutdownAfter shutdown did for it, when either is known.</summary>
    private static string? WithPowerNote(string? message, string? note) => message is null ? note : note is null ? message : message + " " + note;

    /// <summary>Removes a saved job and its status; refused while it has unfinished targets unless forced.</summary>
    public async Task RemoveAsync(string jobName, bool force, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveJob, jobName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var job = await FindRowAsync(db, jobName, cancellationToken);
        // An offer (Available) only waits for its user: removing the job withdraws it at once, which harms nothing.
        var busy = await db.Targets.CountAsync(t => t.JobId == job.Id && !HostService.FinalStatuses.Contains(t.Status) && t.Status != TargetStatus.Available, cancellationToken);
        if (busy > 0 && !force)
        {
            throw new DistException("JobActive", DistErrorKind.InvalidOperation,
                $"Job '{job.Name}' has {busy} unfinished target(s); wait for it, or use -Force.", job.Name);
        }
        var offeredTo = await db.Targets.Where(t => t.JobId == job.Id && t.Status == TargetStatus.Available).Select(t => t.HostId).ToListAsync(cancellationToken);
        db.Jobs.Remove(job);
        change.Record(db, job.Name, new { Force = force });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        if (offeredTo.Count > 0)
        {
            // The agents holding its offers withdraw them at once: their waiting polls answer when their open items change.
            engine.Signals.Notify(offeredTo);
            await engine.Managers.NudgeAsync(cancellationToken);
        }
    }

    internal static async Task<JobRow> FindRowAsync(DistDbContext db, string jobName, CancellationToken cancellationToken)
    {
        var key = Names.Key(jobName ?? "");
        return await db.Jobs.FirstOrDefaultAsync(j => j.NameKey == key, cancellationToken)
            ?? throw new DistException("JobNotFound", DistErrorKind.NotFound, $"No job named '{jobName}' exists; Get-DistJob lists the jobs.", jobName);
    }

    private static DistException JobAlreadyExists(string name) =>
        new("JobAlreadyExists", DistErrorKind.AlreadyExists, $"A job named '{name}' already exists.", name);
}
