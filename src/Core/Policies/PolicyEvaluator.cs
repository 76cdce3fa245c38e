using System.Collections.Concurrent;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Versions;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Policies;

/// <summary>
/// Applies ID group policies to hosts, set-based: the facts of every host in scope are read in a few
/// queries, every policy is matched in memory, and only the differences are written. Hosts that stop
/// matching leave (their recorded job results stay); hosts that join get the group's executed jobs.
/// Callers pass their own context inside their transaction, so evaluation is part of the change that caused it.
/// </summary>
public sealed class PolicyEvaluator(DistEngine engine)
{
    private readonly ConcurrentDictionary<int, (string Json, IdGroupPolicy Policy)> _compiled = new();

    /// <summary>
    /// Evaluates the policies of <paramref name="idGroupIds"/> (all groups with a policy when null) for
    /// <paramref name="hostIds"/> (all hosts when null). Returns the memberships added and removed.
    /// <paramref name="hostsTalking"/>: the hosts are evaluated because their agents registered or reported just now, so
    /// they are on (<see cref="JoinJobsAsync"/> wakes no such joiner).
    /// </summary>
    public Task<(int Added, int Removed)> ApplyAsync(DistDbContext db, IReadOnlyCollection<Guid>? hostIds, IReadOnlyCollection<int>? idGroupIds, CancellationToken cancellationToken,
        bool hostsTalking = false) =>
        ApplyCoreAsync(db, hostIds, idGroupIds, newHost: null, hostsTalking, cancellationToken);

    /// <summary>
    /// Evaluates every policy for a host registering for the first time, from the facts it just sent: a new host
    /// has no memberships, no groups and no JP1Dist software yet, so nothing needs to be read back (the hot path
    /// when many clients register). The memberships and targets are written in the caller's transaction with multi-row
    /// INSERTs, which refer to the host's row: the caller saves the host first.
    /// </summary>
    public Task<(int Added, int Removed)> ApplyToNewHostAsync(DistDbContext db, HostFactSet host, CancellationToken cancellationToken) =>
        ApplyCoreAsync(db, [host.HostId], null, host, hostsTalking: true, cancellationToken);

    /// <summary>An ID group's policy (null: none), and whether the group has executed jobs that joiners become targets of.</summary>
    private sealed record PolicyGroup(int Id, string? PolicyJson, bool HasJobs);

    /// <summary>
    /// Every ID group with a policy: read for each host that registers, so compiled once (EF Core otherwise walks and
    /// looks up the expression tree on every call, which cost three times the query itself, in the write every
    /// registration queues behind).
    /// </summary>
    private static readonly Func<DistDbContext, IAsyncEnumerable<PolicyGroup>> PolicyGroupsQuery = EF.CompileAsyncQuery((DistDbContext db) =>
        db.IdGroups.AsNoTracking().Where(g => g.PolicyJson != null)
            .Select(g => new PolicyGroup(g.Id, g.PolicyJson, db.Jobs.Any(j => j.IdGroupId == g.Id && j.ExecutionCount > 0))));

    private static async Task<List<PolicyGroup>> PolicyGroupsAsync(DistDbContext db, CancellationToken cancellationToken)
    {
        var groups = new List<PolicyGroup>();
        await foreach (var group in PolicyGroupsQuery(db).WithCancellation(cancellationToken))
        {
            groups.Add(group);
        }
        return groups;
    }

    private async Task<(int Added, int Removed)> ApplyCoreAsync(DistDbContext db, IReadOnlyCollection<Guid>? hostIds, IReadOnlyCollection<int>? idGroupIds, HostFactSet? newHost,
        bool hostsTalking, CancellationToken cancellationToken)
    {
        // Whether a group has executed jobs comes with the policies, so that joiners of a group without jobs cost no further query.
        var groups = idGroupIds is null
            ? await PolicyGroupsAsync(db, cancellationToken)
            : await db.IdGroups.AsNoTracking().Where(g => idGroupIds.Contains(g.Id))
                .Select(g => new PolicyGroup(g.Id, g.PolicyJson, db.Jobs.Any(j => j.IdGroupId == g.Id && j.ExecutionCount > 0))).ToListAsync(cancellationToken);
        if (groups.Count == 0)
        {
            return (0, 0);
        }
        var policies = groups.Select(g => (g.Id, Policy: g.PolicyJson is null ? null : Compiled(g.Id, g.PolicyJson))).ToList();
        var rules = policies.Where(p => p.Policy is not null).SelectMany(p => p.Policy!.Rules).ToList();
        var facts = newHost is not null ? [newHost] : await LoadFactsAsync(db, hostIds, rules, cancellationToken);

        var existing = new Dictionary<(int, Guid), MembershipSource>();
        if (newHost is null)
        {
            var scope = groups.Select(g => g.Id).ToList();
            var existingQuery = db.IdGroupMembers.AsNoTracking().Where(m => scope.Contains(m.IdGroupId));
            if (hostIds is not null)
            {
                existingQuery = existingQuery.Where(m => hostIds.Contains(m.HostId));
            }
            existing = (await existingQuery.Select(m => new { m.IdGroupId, m.HostId, m.Source }).ToListAsync(cancellationToken))
                .ToDictionary(m => (m.IdGroupId, m.HostId), m => m.Source);
        }

        var adds = new List<(int IdGroupId, Guid HostId)>();
        var removes = new List<(int IdGroupId, Guid HostId)>();
        foreach (var (groupId, policy) in policies)
        {
            foreach (var host in facts)
            {
                var matches = policy is not null && policy.Matches(host);
                var present = existing.TryGetValue((groupId, host.HostId), out var source);
                if (matches && !present)
                {
                    adds.Add((groupId, host.HostId));
                }
                else if (!matches && present && source == MembershipSource.Policy)
                {
                    removes.Add((groupId, host.HostId));
                }
            }
        }

        foreach (var byGroup in removes.GroupBy(r => r.IdGroupId))
        {
            var leaving = byGroup.Select(r => r.HostId).ToList();
            await db.IdGroupMembers.Where(m => m.IdGroupId == byGroup.Key && m.Source == MembershipSource.Policy && leaving.Contains(m.HostId))
                .ExecuteDeleteAsync(cancellationToken);
        }
        if (adds.Count > 0)
        {
            // Multi-row INSERTs, not tracked entities: a new host joining a dozen groups is one statement, and a policy
            // change admitting thousands of hosts a few dozen (the caller has saved the hosts' rows).
            await InsertMembershipsAsync(db, adds, engine.Now, cancellationToken);
            var withJobs = groups.Where(g => g.HasJobs).Select(g => g.Id).ToHashSet();
            var joins = adds.Where(a => withJobs.Contains(a.IdGroupId)).ToList();
            if (joins.Count > 0)
            {
                await JoinJobsAsync(db, joins, cancellationToken, hostsTalking);
            }
        }
        return (adds.Count, removes.Count);
    }

    /// <summary>Writes policy memberships with multi-row INSERTs (a dozen for a new host, thousands for a policy change).</summary>
    private static Task InsertMembershipsAsync(DistDbContext db, List<(int IdGroupId, Guid HostId)> adds, DateTime now, CancellationToken cancellationToken) =>
        MultiRowInsert.ExecuteAsync(db, "IdGroupMembers", ["IdGroupId", "HostId"], adds.Select(a => new object?[] { a.IdGroupId, a.HostId }).ToList(),
            cancellationToken, [("Source", (int)MembershipSource.Policy), ("AddedAt", now)]);

    /// <summary>
    /// Hosts that joined ID groups become targets of every job already executed for those groups: queued for
    /// their next connection when the execution was dispatched, else waiting for it. A host that was a target
    /// before (it left and came back) keeps its recorded target.
    /// A joiner of a -WakeOnLan job whose execution was woken already is not left unwoken in silence: when it joined
    /// because its agent registered or reported (<paramref name="joinersAwake"/>) it is on, and its target's power note
    /// says so; when an administrator's change brought it in (a member added, a policy or host group changed) it may be
    /// off, and it is woken now (<see cref="Hosts.HostWake"/>, its own broadcast address and port 9, as Start-DistHost),
    /// the outcome kept as its power note. A joiner of an execution not woken yet is woken with the others at its time.
    /// </summary>
    public async Task<int> JoinJobsAsync(DistDbContext db, IReadOnlyCollection<(int IdGroupId, Guid HostId)> joins, CancellationToken cancellationToken,
        bool joinersAwake = false)
    {
        var groupIds = joins.Select(j => j.IdGroupId).Distinct().ToList();
        var jobs = await db.Jobs.AsNoTracking()
            .Where(j => j.IdGroupId != null && groupIds.Contains(j.IdGroupId.Value) && j.ExecutionCount > 0)
            .ToListAsync(cancellationToken);
        if (jobs.Count == 0)
        {
            return 0;
        }
        var jobIds = jobs.Select(j => j.Id).ToList();
        var packageIds = jobs.Select(j => j.PackageId).Distinct().ToList();
        var packages = await db.Packages.AsNoTracking().Where(p => packageIds.Contains(p.Id)).ToDictionaryAsync(p => p.Id, cancellationToken);
        var executions = await db.JobExecutions.AsNoTracking().Where(x => jobIds.Contains(x.JobId) && !x.IsRestart)
            .GroupBy(x => x.JobId).Select(g => g.Max(x => x.Id)).ToListAsync(cancellationToken);
        var latest = await db.JobExecutions.AsNoTracking().Where(x => executions.Contains(x.Id))
            .ToDictionaryAsync(x => x.JobId, cancellationToken);
        var hostIds = joins.Select(j => j.HostId).Distinct().ToList();
        var existing = (await db.Targets.AsNoTracking().Where(t => jobIds.Contains(t.JobId) && hostIds.Contains(t.HostId))
            .Select(t => new { t.JobId, t.HostId }).ToListAsync(cancellationToken)).Select(t => (t.JobId, t.HostId)).ToHashSet();
        var now = engine.Now;
        var created = new List<(int JobId, TargetStatus Status)>();
        var toWake = new List<(int ExecutionId, Guid HostId)>();
        var joiners = new List<(JobRow Job, JobExecutionRow Execution, TargetStatus Status, string? PowerNote, List<Guid> HostIds)>();
        foreach (var job in jobs)
        {
            if (!latest.TryGetValue(job.Id, out var execution))
            {
                continue;
            }
            // A host that was a target of the job before keeps its target.
            var hostIdsOfJob = joins.Where(join => join.IdGroupId == job.IdGroupId!.Value && existing.Add((job.Id, join.HostId))).Select(join => join.HostId).ToList();
            if (hostIdsOfJob.Count == 0)
            {
                continue;
            }
            // An execution that is due (dispatched, or with no execution time still to wait for) queues its joiners at once.
            var dispatched = execution.DispatchedAt is not null || execution.ExecuteAt is null || execution.ExecuteAt <= now;
            var status = dispatched ? TargetStatus.Queued : TargetStatus.Waiting;
            var powerNote = job.WakeOnLan && execution.WokenAt is { } wokenAt && joinersAwake
                ? $"Awake: joined the ID group at {now:yyyy-MM-dd HH:mm:ss} UTC when its agent registered or reported, after this execution's "
                    + $"Wake-on-LAN at {wokenAt:yyyy-MM-dd HH:mm:ss} UTC; no magic packet was needed."
                : null;
            joiners.Add((job, execution, status, powerNote, hostIdsOfJob));
            if (job.WakeOnLan && execution.WokenAt is not null && !joinersAwake)
            {
                toWake.AddRange(hostIdsOfJob.Select(hostId => (execution.Id, hostId)));
            }
            created.AddRange(hostIdsOfJob.Select(_ => (job.Id, status)));
        }
        // The new targets and their counts in one transaction (the caller's, or one of its own). What the caller still tracks
        // is saved first: the targets refer to its rows (a host that registers in the same transaction, for one).
        await using (var own = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(cancellationToken) : null)
        {
            await db.SaveChangesAsync(cancellationToken);
            // Each job's joiners in multi-row INSERTs, their settings signed together over every core: a policy change can
            // bring in thousands of hosts at once.
            foreach (var (job, execution, status, powerNote, hostIdsOfJob) in joiners)
            {
                await Jobs.JobService.InsertTargetsAsync(db, job.Id, Jobs.AttemptSettings.For(engine, job, packages[job.PackageId]), execution.Id, status,
                    hostIdsOfJob, now, cancellationToken, powerNote);
            }
            await Jobs.TargetCounts.AddedAsync(db, created, cancellationToken);
            if (own is not null)
            {
                await own.CommitAsync(cancellationToken);
            }
        }
        foreach (var byExecution in toWake.GroupBy(w => w.ExecutionId))
        {
            var ids = byExecution.Select(w => w.HostId).ToList();
            var hosts = await Hosts.HostWake.Select(db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id)).OrderBy(h => h.NameKey)).ToListAsync(cancellationToken);
            var results = await new Hosts.HostWake(engine).WakeAsync(db, hosts, null, Protocol.Power.MagicPacket.DefaultPort, cancellationToken, byExecution.Key);
            foreach (var (host, result) in hosts.Zip(results))
            {
                var note = $"Joined the ID group at {now:yyyy-MM-dd HH:mm:ss} UTC, after this execution's Wake-on-LAN: woken on joining. {result.Message}";
                await db.Targets.Where(t => t.ExecutionId == byExecution.Key && t.HostId == host.Id)
                    .ExecuteUpdateAsync(s => s.SetProperty(t => t.PowerNote, note), cancellationToken);
                if (result.Outcome == WakeOutcome.AskedOfRelay)
                {
                    // The relay's report replaces the note kept on the order: keep the two the same.
                    await db.WakeOrders.Where(w => w.ExecutionId == byExecution.Key && w.HostId == host.Id && w.ReportedAt == null)
                        .ExecuteUpdateAsync(s => s.SetProperty(w => w.Message, note), cancellationToken);
                }
            }
        }
        return created.Count;
    }

    /// <summary>The facts of the hosts in scope, reading software and group membership only when a rule needs them.</summary>
    public static async Task<List<HostFactSet>> LoadFactsAsync(DistDbContext db, IReadOnlyCollection<Guid>? hostIds, IReadOnlyList<PolicyRule> rules, CancellationToken cancellationToken)
    {
        var hostQuery = db.Hosts.AsNoTracking();
        if (hostIds is not null)
        {
            hostQuery = hostQuery.Where(h => hostIds.Contains(h.Id));
        }
        var hosts = await hostQuery.Select(h => new { h.Id, h.Name, h.OS, h.OSVersion, h.Architecture, h.AddressesJson, h.MacAddress, h.MacAddressesJson, h.MemoryMB, h.CpuCount })
            .ToListAsync(cancellationToken);

        ILookup<Guid, (string, string)> software = Array.Empty<(Guid, string, string)>().ToLookup(s => s.Item1, s => (s.Item2, s.Item3));
        if (rules.Any(r => r.UsesSoftware))
        {
            var patterns = rules.SelectMany(r => r.SoftwarePatterns).ToList();
            var softwareQuery = db.HostSoftware.AsNoTracking();
            if (hostIds is not null)
            {
                softwareQuery = softwareQuery.Where(s => hostIds.Contains(s.HostId));
            }
            if (patterns.All(p => p.IsExactName))
            {
                var keys = patterns.Select(p => Names.Key(p.Name)).Distinct().ToList();
                softwareQuery = softwareQuery.Where(s => keys.Contains(s.NameKey));
            }
            software = (await softwareQuery.Select(s => new { s.HostId, s.Name, s.Version }).ToListAsync(cancellationToken))
                .ToLookup(s => s.HostId, s => (s.Name, s.Version));
        }

        ILookup<Guid, string> hostGroups = Array.Empty<(Guid, string)>().ToLookup(g => g.Item1, g => g.Item2);
        if (rules.Any(r => r.UsesHostGroups))
        {
            hostGroups = await Groups.HostGroupService.GroupNamesOfHostsAsync(db, hostIds, cancellationToken);
        }

        return hosts.Select(h =>
        {
            var macs = JsonSerializer.Deserialize<string[]>(h.MacAddressesJson) ?? [];
            if (macs.Length == 0 && h.MacAddress is not null)
            {
                macs = [h.MacAddress];
            }
            return new HostFactSet(h.Id, h.Name, h.OS, h.OSVersion, h.Architecture,
                JsonSerializer.Deserialize<string[]>(h.AddressesJson) ?? [], macs, h.MemoryMB, h.CpuCount,
                hostGroups[h.Id].ToHashSet(StringComparer.OrdinalIgnoreCase), software[h.Id].ToList());
        }).ToList();
    }

    private IdGroupPolicy Compiled(int groupId, string json)
    {
        if (_compiled.TryGetValue(groupId, out var cached) && string.Equals(cached.Json, json, StringComparison.Ordinal))
        {
            return cached.Policy;
        }
        var policy = IdGroupPolicy.FromJson(json);
        _compiled[groupId] = (json, policy);
        return policy;
    }
}
