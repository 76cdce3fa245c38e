using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Groups;

/// <summary>
/// Host groups: named sets of hosts and of other groups. A host may be in many groups; nesting never
/// forms a cycle. Expansion into hosts is set-based: the nesting graph (small) is walked in memory and the
/// members of every reached group are read in one query, each host once.
/// </summary>
public sealed class HostGroupService(DistEngine engine) : IHostGroupService
{
    /// <summary>Creates an empty host group.</summary>
    public async Task<DistHostGroup> CreateAsync(string name, string? description, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.NewHostGroup, name, cancellationToken);
        var valid = Names.Require(name, "HostGroup");
        await using var db = engine.Database.CreateContext();
        var key = Names.Key(valid);
        if (await db.HostGroups.AnyAsync(g => g.NameKey == key, cancellationToken))
        {
            throw AlreadyExists(valid);
        }
        db.HostGroups.Add(new HostGroupRow { Name = valid, NameKey = key, Description = description, CreatedAt = engine.Now });
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

    /// <summary>Host groups whose names match the wildcard pattern, with members, nested groups and the number of hosts reached.</summary>
    public async Task<IReadOnlyList<DistHostGroup>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var matcher = Wildcard.For(namePattern);
        var groups = (await db.HostGroups.AsNoTracking().OrderBy(g => g.NameKey).ToListAsync(cancellationToken)).Where(g => matcher(g.Name)).ToList();
        if (groups.Count == 0)
        {
            return [];
        }
        var all = await db.HostGroups.AsNoTracking().ToDictionaryAsync(g => g.Id, g => g.Name, cancellationToken);
        var edges = await db.HostGroupNesting.AsNoTracking().Select(n => new { n.ParentId, n.ChildId }).ToListAsync(cancellationToken);
        var members = await (from m in db.HostGroupMembers.AsNoTracking()
                             join h in db.Hosts on m.HostId equals h.Id
                             orderby h.NameKey
                             select new { m.GroupId, m.HostId, h.Name }).ToListAsync(cancellationToken);
        var children = edges.ToLookup(e => e.ParentId, e => e.ChildId);
        var byGroup = members.ToLookup(m => m.GroupId);
        return groups.Select(g =>
        {
            var reached = Descendants([g.Id], children);
            var hostCount = reached.SelectMany(id => byGroup[id]).Select(m => m.HostId).Distinct().Count();
            return new DistHostGroup(g.Name, g.Description, byGroup[g.Id].Select(m => m.Name).ToList(),
                children[g.Id].Select(c => all[c]).Order(StringComparer.OrdinalIgnoreCase).ToList(), hostCount, g.CreatedAt.AsLocal(), g.Id);
        }).ToList();
    }

    /// <summary>
    /// Adds hosts and nested groups to a group. Every name must exist; a nesting that would make a cycle is refused
    /// (HostGroupCycle). Members already present are left as they are. Nothing changes when anything is refused.
    /// </summary>
    public async Task<DistHostGroup> AddMembersAsync(string groupName, IReadOnlyCollection<string>? hostNames, IReadOnlyCollection<string>? groupNames, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.AddHostGroupMember, groupName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var hostGroup = await FindRowAsync(db, groupName, cancellationToken);
        var hosts = await Hosts.HostService.FindHostsAsync(db, hostNames ?? [], cancellationToken);
        var nested = await FindRowsAsync(db, groupNames ?? [], cancellationToken);
        var now = engine.Now;
        if (nested.Count > 0)
        {
            var edges = await db.HostGroupNesting.AsNoTracking().Select(n => new { n.ParentId, n.ChildId }).ToListAsync(cancellationToken);
            var children = edges.ToLookup(e => e.ParentId, e => e.ChildId);
            foreach (var child in nested)
            {
                // Adding child under group makes a cycle exactly when group is reachable from child (or is child).
                if (Descendants([child.Id], children).Contains(hostGroup.Id))
                {
                    throw new DistException("HostGroupCycle", DistErrorKind.InvalidOperation,
                        $"Host group '{child.Name}' cannot be nested in '{hostGroup.Name}': '{hostGroup.Name}' is already in '{child.Name}' (directly or through nested groups), which would make a cycle.", child.Name);
                }
            }
            var present = edges.Where(e => e.ParentId == hostGroup.Id).Select(e => e.ChildId).ToHashSet();
            db.HostGroupNesting.AddRange(nested.Where(c => !present.Contains(c.Id)).Select(c => new HostGroupNestingRow { ParentId = hostGroup.Id, ChildId = c.Id, AddedAt = now }));
        }
        var hostIds = hosts.Select(h => h.Id).ToList();
        var already = await db.HostGroupMembers.Where(m => m.GroupId == hostGroup.Id && hostIds.Contains(m.HostId)).Select(m => m.HostId).ToListAsync(cancellationToken);
        db.HostGroupMembers.AddRange(hostIds.Except(already).Select(id => new HostGroupMemberRow { GroupId = hostGroup.Id, HostId = id, AddedAt = now }));
        change.Record(db, hostGroup.Name, Members(hosts, nested));
        await db.SaveChangesAsync(cancellationToken);
        await ReevaluateAsync(db, await HostIdsOfAsync(db, [hostGroup.Id], cancellationToken), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (await ListAsync(hostGroup.Name, cancellationToken)).Single();
    }

    /// <summary>Removes hosts and nested groups from a group; a name that is not a member is an error (HostGroupMemberNotFound) and nothing changes.</summary>
    public async Task<DistHostGroup> RemoveMembersAsync(string groupName, IReadOnlyCollection<string>? hostNames, IReadOnlyCollection<string>? groupNames, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveHostGroupMember, groupName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var hostGroup = await FindRowAsync(db, groupName, cancellationToken);
        var hosts = await Hosts.HostService.FindHostsAsync(db, hostNames ?? [], cancellationToken);
        var nested = await FindRowsAsync(db, groupNames ?? [], cancellationToken);
        var hostIds = hosts.Select(h => h.Id).ToList();
        var childIds = nested.Select(c => c.Id).ToList();
        var memberHosts = await db.HostGroupMembers.Where(m => m.GroupId == hostGroup.Id && hostIds.Contains(m.HostId)).Select(m => m.HostId).ToListAsync(cancellationToken);
        var memberGroups = await db.HostGroupNesting.Where(n => n.ParentId == hostGroup.Id && childIds.Contains(n.ChildId)).Select(n => n.ChildId).ToListAsync(cancellationToken);
        var missing = hosts.Where(h => !memberHosts.Contains(h.Id)).Select(h => h.Name)
            .Concat(nested.Where(c => !memberGroups.Contains(c.Id)).Select(c => c.Name)).ToList();
        if (missing.Count > 0)
        {
            throw new DistException("HostGroupMemberNotFound", DistErrorKind.NotFound,
                $"{string.Join(", ", missing.Select(m => $"'{m}'"))} is not a direct member of host group '{hostGroup.Name}'.", missing[0]);
        }
        var affected = await HostIdsOfAsync(db, [hostGroup.Id], cancellationToken);
        await db.HostGroupMembers.Where(m => m.GroupId == hostGroup.Id && hostIds.Contains(m.HostId)).ExecuteDeleteAsync(cancellationToken);
        await db.HostGroupNesting.Where(n => n.ParentId == hostGroup.Id && childIds.Contains(n.ChildId)).ExecuteDeleteAsync(cancellationToken);
        change.Record(db, hostGroup.Name, Members(hosts, nested));
        await db.SaveChangesAsync(cancellationToken);
        await ReevaluateAsync(db, affected, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (await ListAsync(hostGroup.Name, cancellationToken)).Single();
    }

    /// <summary>Removes a host group; refused while a job names it (HostGroupInUse). Its hosts stay registered.</summary>
    public async Task RemoveAsync(string groupName, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveHostGroup, groupName, cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var hostGroup = await FindRowAsync(db, groupName, cancellationToken);
        var jobs = await (from d in db.JobHostGroups
                          join j in db.Jobs on d.JobId equals j.Id
                          where d.HostGroupId == hostGroup.Id
                          orderby j.NameKey
                          select j.Name).ToListAsync(cancellationToken);
        if (jobs.Count > 0)
        {
            throw new DistException("HostGroupInUse", DistErrorKind.InvalidOperation,
                $"Host group '{hostGroup.Name}' is a destination of job(s) {string.Join(", ", jobs.Select(j => $"'{j}'"))}; remove those jobs first.", hostGroup.Name);
        }
        var affected = await HostIdsOfAsync(db, [hostGroup.Id], cancellationToken);
        db.HostGroups.Remove(hostGroup);
        change.Record(db, hostGroup.Name, new { Hosts = affected.Count });
        await db.SaveChangesAsync(cancellationToken);
        await engine.Policies.ApplyAsync(db, affected, null, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The members a change names, for its audit entry.</summary>
    private static object Members(List<HostRow> hosts, List<HostGroupRow> groups) => new
    {
        Host = hosts.Count > 0 ? hosts.Select(h => h.Name).ToList() : null,
        HostGroup = groups.Count > 0 ? groups.Select(g => g.Name).ToList() : null,
    };

    /// <summary>Every host reached from the groups, through nesting, each once.</summary>
    public static async Task<List<Guid>> HostIdsOfAsync(DistDbContext db, IReadOnlyCollection<int> groupIds, CancellationToken cancellationToken)
    {
        var edges = await db.HostGroupNesting.AsNoTracking().Select(n => new { n.ParentId, n.ChildId }).ToListAsync(cancellationToken);
        var reached = Descendants(groupIds, edges.ToLookup(e => e.ParentId, e => e.ChildId)).ToList();
        return await db.HostGroupMembers.AsNoTracking().Where(m => reached.Contains(m.GroupId)).Select(m => m.HostId).Distinct().ToListAsync(cancellationToken);
    }

    /// <summary>Every host reached from the groups, through nesting, each once, with its name: one query after the graph walk.</summary>
    public static async Task<List<(Guid Id, string Name, string NameKey)>> HostsOfAsync(DistDbContext db, IReadOnlyCollection<int> groupIds, CancellationToken cancellationToken)
    {
        var edges = await db.HostGroupNesting.AsNoTracking().Select(n => new { n.ParentId, n.ChildId }).ToListAsync(cancellationToken);
        var reached = Descendants(groupIds, edges.ToLookup(e => e.ParentId, e => e.ChildId)).ToList();
        var rows = await (from m in db.HostGroupMembers.AsNoTracking()
                          join h in db.Hosts on m.HostId equals h.Id
                          where reached.Contains(m.GroupId)
                          select new { h.Id, h.Name, h.NameKey }).ToListAsync(cancellationToken);
        return rows.DistinctBy(r => r.Id).OrderBy(r => r.NameKey, StringComparer.Ordinal).Select(r => (r.Id, r.Name, r.NameKey)).ToList();
    }

    /// <summary>For each host, the names of every group it is in, directly or through nesting (a policy's HostGroup fact).</summary>
    public static async Task<ILookup<Guid, string>> GroupNamesOfHostsAsync(DistDbContext db, IReadOnlyCollection<Guid>? hostIds, CancellationToken cancellationToken)
    {
        var names = await db.HostGroups.AsNoTracking().ToDictionaryAsync(g => g.Id, g => g.Name, cancellationToken);
        var edges = await db.HostGroupNesting.AsNoTracking().Select(n => new { n.ParentId, n.ChildId }).ToListAsync(cancellationToken);
        var parents = edges.ToLookup(e => e.ChildId, e => e.ParentId);
        var query = db.HostGroupMembers.AsNoTracking();
        if (hostIds is not null)
        {
            query = query.Where(m => hostIds.Contains(m.HostId));
        }
        var direct = await query.Select(m => new { m.HostId, m.GroupId }).ToListAsync(cancellationToken);
        var ancestors = new Dictionary<int, HashSet<int>>();
        return direct.SelectMany(m =>
        {
            if (!ancestors.TryGetValue(m.GroupId, out var up))
            {
                up = Descendants([m.GroupId], parents);
                ancestors[m.GroupId] = up;
            }
            return up.Select(g => (m.HostId, Name: names[g]));
        }).Distinct().ToLookup(x => x.HostId, x => x.Name);
    }

    /// <summary>The groups themselves and every group reachable from them along the edges.</summary>
    public static HashSet<int> Descendants(IEnumerable<int> start, ILookup<int, int> edges)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>(start);
        while (stack.Count > 0)
        {
            var id = stack.Pop();
            if (seen.Add(id))
            {
                foreach (var next in edges[id])
                {
                    stack.Push(next);
                }
            }
        }
        return seen;
    }

    internal static async Task<HostGroupRow> FindRowAsync(DistDbContext db, string name, CancellationToken cancellationToken)
    {
        var key = Names.Key(name ?? "");
        return await db.HostGroups.FirstOrDefaultAsync(g => g.NameKey == key, cancellationToken) ?? throw NotFound([name ?? ""]);
    }

    /// <summary>The groups named; every one must exist, else HostGroupNotFound names the unknown ones.</summary>
    internal static async Task<List<HostGroupRow>> FindRowsAsync(DistDbContext db, IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        var wanted = names.Where(n => !string.IsNullOrWhiteSpace(n)).Select(n => n.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (wanted.Count == 0)
        {
            return [];
        }
        var keys = wanted.Select(Names.Key).ToList();
        var rows = await db.HostGroups.Where(g => keys.Contains(g.NameKey)).ToListAsync(cancellationToken);
        var unknown = wanted.Where(n => rows.All(r => r.NameKey != Names.Key(n))).ToList();
        if (unknown.Count > 0)
        {
            throw NotFound(unknown);
        }
        return rows;
    }

    private async Task ReevaluateAsync(DistDbContext db, List<Guid> affected, CancellationToken cancellationToken)
    {
        // Policies may name host groups: hosts whose group membership changed are evaluated again.
        if (affected.Count > 0)
        {
            await engine.Policies.ApplyAsync(db, affected, null, cancellationToken);
        }
    }

    internal static DistException NotFound(IReadOnlyList<string> names) => new("HostGroupNotFound", DistErrorKind.NotFound,
        $"No host group named {string.Join(", ", names.Select(n => $"'{n}'"))} exists; Get-DistHostGroup lists the host groups.", names[0]);

    private static DistException AlreadyExists(string name) =>
        new("HostGroupAlreadyExists", DistErrorKind.AlreadyExists, $"A host group named '{name}' already exists.", name);
}
