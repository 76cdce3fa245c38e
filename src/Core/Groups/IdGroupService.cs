using System.Collections;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Policies;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Groups;

/// <summary>
/// ID groups: members added by hand or admitted by the group's policy; a job executed for the group reaches
/// every member, now and later. Setting a policy evaluates it for every host at once.
/// </summary>
public sealed class IdGroupService(DistEngine engine) : IIdGroupService
{
    /// <summary>Creates an empty ID group with no policy.</summary>
    public async Task<DistIdGroup> CreateAsync(string name, string? description, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.NewIdGroup, name, cancellationToken);
        var valid = Names.Require(name, "IdGroup");
        await using var db = engine.Database.CreateContext();
        var key = Names.Key(valid);
        if (await db.IdGroups.AnyAsync(g => g.NameKey == key, cancellationToken))
        {
            throw AlreadyExists(valid);
        }
        db.IdGroups.Add(new IdGroupRow { Name = valid, NameKey = key, Description = description, CreatedAt = engine.Now });
        change.Record(db, valid, new { Description = description });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException e) when (StorageErrors.IsDuplicate(e))
        {
            throw AlreadyExists(valid);
        }
        return (await ListAsync(valid, cancellationToken)).Single();
    }

    /// <summary>ID groups whose names match the pattern, with every member, how and when it joined.</summary>
    public async Task<IReadOnlyList<DistIdGroup>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var matcher = Wildcard.For(namePattern);
        var groups = (await db.IdGroups.AsNoTracking().OrderBy(g => g.NameKey).ToListAsync(cancellationToken)).Where(g => matcher(g.Name)).ToList();
        var ids = groups.Select(g => g.Id).ToList();
        var members = await (from m in db.IdGroupMembers.AsNoTracking()
                             join h in db.Hosts on m.HostId equals h.Id
                             where ids.Contains(m.IdGroupId)
                             orderby h.NameKey
                             select new { m.IdGroupId, m.HostId, m.Source, m.AddedAt, h.Name }).ToListAsync(cancellationToken);
        var byGroup = members.ToLookup(m => m.IdGroupId);
        return groups.Select(g => new DistIdGroup(g.Name, g.Description,
            byGroup[g.Id].Select(m => new DistIdGroupMember(g.Name, m.Name, m.Source, m.AddedAt.AsLocal(), m.HostId)).ToList(),
            g.PolicyJson is null ? 0 : IdGroupPolicy.FromJson(g.PolicyJson).Rules.Count, g.PolicyUpdatedAt.AsLocal(), g.CreatedAt.AsLocal(), g.Id)).ToList();
    }

    /// <summary>Adds hosts by hand; they stay until removed by hand. A policy member added by hand becomes a manual one.</summary>
    public async Task<DistIdGroup> AddMembersAsync(string groupName, IReadOnlyCollection<string> hostNames, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.AddIdGroupMember, groupName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var group = await FindRowAsync(db, groupName, cancellationToken);
        var hosts = await Hosts.HostService.FindHostsAsync(db, hostNames, cancellationToken);
        if (hosts.Count == 0)
        {
            throw new DistException("HostNameMissing", DistErrorKind.InvalidArgument, "No host was named.");
        }
        var ids = hosts.Select(h => h.Id).ToList();
        var existing = await db.IdGroupMembers.Where(m => m.IdGroupId == group.Id && ids.Contains(m.HostId)).ToDictionaryAsync(m => m.HostId, cancellationToken);
        var now = engine.Now;
        var joins = new List<(int, Guid)>();
        foreach (var id in ids)
        {
            if (existing.TryGetValue(id, out var member))
            {
                member.Source = MembershipSource.Manual;
                continue;
            }
            db.IdGroupMembers.Add(new IdGroupMemberRow { IdGroupId = group.Id, HostId = id, Source = MembershipSource.Manual, AddedAt = now });
            joins.Add((group.Id, id));
        }
        change.Record(db, group.Name, new { Host = hosts.Select(h => h.Name).ToList() });
        await db.SaveChangesAsync(cancellationToken);
        if (joins.Count > 0)
        {
            await engine.Policies.JoinJobsAsync(db, joins, cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        await engine.Managers.NudgeAsync(cancellationToken);
        return (await ListAsync(group.Name, cancellationToken)).Single();
    }

    /// <summary>
    /// Removes members (by hand or policy members). Recorded job results stay. A host the policy still matches
    /// comes back at its next evaluation; change the policy to keep it out.
    /// </summary>
    public async Task<DistIdGroup> RemoveMembersAsync(string groupName, IReadOnlyCollection<string> hostNames, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveIdGroupMember, groupName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var group = await FindRowAsync(db, groupName, cancellationToken);
        var hosts = await Hosts.HostService.FindHostsAsync(db, hostNames, cancellationToken);
        var ids = hosts.Select(h => h.Id).ToList();
        var present = await db.IdGroupMembers.Where(m => m.IdGroupId == group.Id && ids.Contains(m.HostId)).Select(m => m.HostId).ToListAsync(cancellationToken);
        var missing = hosts.Where(h => !present.Contains(h.Id)).Select(h => h.Name).ToList();
        if (missing.Count > 0)
        {
            throw new DistException("IdGroupMemberNotFound", DistErrorKind.NotFound,
                $"{string.Join(", ", missing.Select(m => $"'{m}'"))} is not a member of ID group '{group.Name}'.", missing[0]);
        }
        await db.IdGroupMembers.Where(m => m.IdGroupId == group.Id && ids.Contains(m.HostId)).ExecuteDeleteAsync(cancellationToken);
        change.Record(db, group.Name, new { Host = hosts.Select(h => h.Name).ToList() });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (await ListAsync(group.Name, cancellationToken)).Single();
    }

    /// <summary>Removes an ID group; refused while a job is executed for it (IdGroupInUse).</summary>
    public async Task RemoveAsync(string groupName, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveIdGroup, groupName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var group = await FindRowAsync(db, groupName, cancellationToken);
        var jobs = await db.Jobs.Where(j => j.IdGroupId == group.Id).OrderBy(j => j.NameKey).Select(j => j.Name).ToListAsync(cancellationToken);
        if (jobs.Count > 0)
        {
            throw new DistException("IdGroupInUse", DistErrorKind.InvalidOperation,
                $"ID group '{group.Name}' is the destination of job(s) {string.Join(", ", jobs.Select(j => $"'{j}'"))}; remove those jobs first.", group.Name);
        }
        db.IdGroups.Remove(group);
        change.Record(db, group.Name);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Replaces the group's policy with these rules (none clears it) and evaluates it for every host at once:
    /// matching hosts join, policy members that no longer match leave. A bad rule changes nothing.
    /// </summary>
    public async Task<DistIdGroupPolicy> SetPolicyAsync(string groupName, IReadOnlyList<IReadOnlyDictionary<string, IReadOnlyList<string>>> rules, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.SetIdGroupPolicy, groupName, cancellationToken);
        var policy = IdGroupPolicy.Compile(rules);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var group = await FindRowAsync(db, groupName, cancellationToken);
        group.PolicyJson = policy.Rules.Count == 0 ? null : policy.ToJson();
        group.PolicyUpdatedAt = engine.Now;
        change.Record(db, group.Name, new { Rule = rules });
        await db.SaveChangesAsync(cancellationToken);
        await engine.Policies.ApplyAsync(db, null, [group.Id], cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        await engine.Managers.NudgeAsync(cancellationToken);
        return ToPolicyView(group);
    }

    /// <summary>The policies of the ID groups whose names match the pattern.</summary>
    public async Task<IReadOnlyList<DistIdGroupPolicy>> GetPoliciesAsync(string? namePattern = null, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var matcher = Wildcard.For(namePattern);
        var groups = await db.IdGroups.AsNoTracking().OrderBy(g => g.NameKey).ToListAsync(cancellationToken);
        return groups.Where(g => matcher(g.Name)).Select(ToPolicyView).ToList();
    }

    /// <summary>The hosts an ID group reaches now: its current members (what a job to the group targets), by name.</summary>
    public static async Task<List<(Guid Id, string Name, string NameKey)>> MembersOfAsync(DistDbContext db, int idGroupId, CancellationToken cancellationToken)
    {
        var rows = await (from m in db.IdGroupMembers.AsNoTracking()
                          join h in db.Hosts on m.HostId equals h.Id
                          where m.IdGroupId == idGroupId
                          orderby h.NameKey
                          select new { h.Id, h.Name, h.NameKey }).ToListAsync(cancellationToken);
        return rows.Select(r => (r.Id, r.Name, r.NameKey)).ToList();
    }

    internal static async Task<IdGroupRow> FindRowAsync(DistDbContext db, string name, CancellationToken cancellationToken)
    {
        var key = Names.Key(name ?? "");
        return await db.IdGroups.FirstOrDefaultAsync(g => g.NameKey == key, cancellationToken)
            ?? throw new DistException("IdGroupNotFound", DistErrorKind.NotFound, $"No ID group named '{name}' exists; Get-DistIdGroup lists the ID groups.", name);
    }

    private static DistIdGroupPolicy ToPolicyView(IdGroupRow group) => new(group.Name,
        group.PolicyJson is null ? [] : IdGroupPolicy.FromJson(group.PolicyJson).Rules.Select(r => new DistPolicyRule(r.Conditions)).ToList(),
        group.PolicyUpdatedAt.AsLocal());

    private static DistException AlreadyExists(string name) =>
        new("IdGroupAlreadyExists", DistErrorKind.AlreadyExists, $"An ID group named '{name}' already exists.", name);
}
