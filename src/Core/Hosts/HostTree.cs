using JP1Dist.Contracts;
using JP1Dist.Core.Storage;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Hosts;

/// <summary>
/// The tree of higher systems: every host points at the relay it registered through (ParentHostId), or at nothing
/// when it sits directly under the manager. A subtree is read with one recursive query; a walk up is one key lookup
/// per level.
/// </summary>
public static class HostTree
{
    /// <summary>
    /// Every host below <paramref name="hostId"/>, at all levels; not the host itself. One recursive query that follows
    /// the ParentHostId index level by level, so it reads the subtree, not every host (a relay's poll and each of its
    /// batches ask this); UNION drops repeats, so even a hand-made cycle ends.
    /// </summary>
    public static async Task<HashSet<Guid>> DescendantsAsync(DistDbContext db, Guid hostId, CancellationToken ct)
    {
        var below = await db.Database.SqlQuery<Guid>($"""
            WITH RECURSIVE below(Id) AS (
                SELECT "Id" FROM "Hosts" WHERE "ParentHostId" = {hostId}
                UNION
                SELECT h."Id" FROM "Hosts" AS h JOIN below AS b ON h."ParentHostId" = b.Id)
            SELECT Id AS "Value" FROM below
            """).ToListAsync(ct);
        var found = below.ToHashSet();
        found.Remove(hostId);
        return found;
    }


    /// <summary>
    /// True when <paramref name="hostId"/> is <paramref name="relayId"/> or a host below it. Walks up from the host, one
    /// key lookup per level (a tree is a few levels deep), so it costs the same whatever the number of hosts.
    /// </summary>
    public static async Task<bool> IsAtOrBelowAsync(DistDbContext db, Guid hostId, Guid relayId, CancellationToken ct)
    {
        var visited = new HashSet<Guid>();
        for (Guid? current = hostId; current is { } id && visited.Add(id);)
        {
            if (id == relayId)
            {
                return true;
            }
            current = await db.Hosts.AsNoTracking().Where(h => h.Id == id).Select(h => h.ParentHostId).FirstOrDefaultAsync(ct);
        }
        return false;
    }

    /// <summary>Every host with its higher system (null: directly under the manager), for a node's wake-ups (HostSignals).</summary>
    public static IReadOnlyList<(Guid Host, Guid? Parent)> Parents(DistDbContext db) =>
        db.Hosts.AsNoTracking().Select(h => new { h.Id, h.ParentHostId }).AsEnumerable().Select(h => (h.Id, h.ParentHostId)).ToList();

    /// <summary>Every id below <paramref name="root"/> in the lookup; a visited set keeps even a hand-made cycle from looping.</summary>
    internal static HashSet<Guid> Below(ILookup<Guid, Guid> children, Guid root)
    {
        var found = new HashSet<Guid>();
        var pending = new Stack<Guid>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            foreach (var child in children[pending.Pop()])
            {
                if (child != root && found.Add(child))
                {
                    pending.Push(child);
                }
            }
        }
        return found;
    }
}
