using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Policies;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Versions;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Inventory;

/// <summary>What reported facts changed: whether anything did, and the software list to store (null: none reported).</summary>
public sealed record FactsUpdate(bool Changed, IReadOnlyList<SoftwareFact>? Software);

/// <summary>
/// Host inventory: records the facts agents report (only when they changed), records software that JP1Dist
/// installed, and answers inventory queries such as "which hosts have X below version Y".
/// </summary>
public sealed class InventoryService(DistEngine engine) : IInventoryService
{
    /// <summary>The source name of software that JP1Dist installed.</summary>
    public const string JP1DistSource = "JP1Dist";

    /// <summary>
    /// Puts reported facts on a tracked host row. Returns Changed false (and changes nothing) when the facts are the
    /// same as last time; otherwise the operating-system software list to store once the host row is saved
    /// (<see cref="WriteSoftwareAsync"/>), or null when the report carried no inventory.
    /// </summary>
    public FactsUpdate ApplyFacts(HostRow host, FactsReport facts)
    {
        var hash = Hash(facts);
        if (string.Equals(hash, host.FactsHash, StringComparison.Ordinal))
        {
            return new FactsUpdate(false, null);
        }
        host.OS = facts.OS ?? "";
        host.OSVersion = facts.OSVersion ?? "";
        host.Architecture = facts.Architecture ?? "";
        host.AddressesJson = JsonSerializer.Serialize(facts.Addresses ?? []);
        host.MacAddress = facts.MacAddress;
        host.AgentVersion = facts.AgentVersion ?? "";
        host.FactsHash = hash;
        host.FactsUpdatedAt = engine.Now;
        if (facts.Inventory is not { } inventory)
        {
            return new FactsUpdate(true, null);
        }
        host.CpuCount = inventory.CpuCount;
        host.MemoryMB = inventory.MemoryMB;
        host.VolumesJson = JsonSerializer.Serialize(inventory.Volumes ?? []);
        host.MacAddressesJson = JsonSerializer.Serialize(inventory.MacAddresses ?? []);
        host.NetworksJson = JsonSerializer.Serialize(inventory.Networks ?? []);
        var software = (inventory.Software ?? [])
            .Where(s => !string.IsNullOrWhiteSpace(s.Name) && !string.Equals(s.Source, JP1DistSource, StringComparison.OrdinalIgnoreCase))
            .Select(s => new SoftwareFact(s.Name.Trim(), s.Version ?? "", s.Source ?? ""))
            .DistinctBy(s => (Names.Key(s.Name), s.Version)).ToList();
        return new FactsUpdate(true, software);
    }

    /// <summary>
    /// Replaces the host's operating-system software rows (JP1Dist's own rows stay) with multi-row INSERTs: a
    /// Debian host reports several hundred packages, which one tracked entity each would make slow to register.
    /// </summary>
    public async Task WriteSoftwareAsync(DistDbContext db, Guid hostId, IReadOnlyList<SoftwareFact> software, bool replace, CancellationToken cancellationToken)
    {
        if (replace)
        {
            await db.HostSoftware.Where(s => s.HostId == hostId && s.Source != JP1DistSource).ExecuteDeleteAsync(cancellationToken);
        }
        await MultiRowInsert.ExecuteAsync(db, "HostSoftware", ["Name", "NameKey", "Version", "Source"],
            software.Select(s => new object?[] { s.Name, Names.Key(s.Name), s.Version, s.Source }).ToList(), cancellationToken,
            [("HostId", hostId), ("RecordedAt", engine.Now)]);
    }

    /// <summary>Receives an agent's facts after registration; when they changed, the policies are evaluated for the host.</summary>
    public async Task<bool> ReportFactsAsync(Guid hostId, FactsReport facts, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.Id == hostId, cancellationToken) ?? throw Hosts.HostService.HostNotFound(hostId.ToString());
        var update = ApplyFacts(host, facts);
        if (!update.Changed)
        {
            return false;
        }
        await db.SaveChangesAsync(cancellationToken);
        if (update.Software is { } software)
        {
            await WriteSoftwareAsync(db, hostId, software, replace: true, cancellationToken);
        }
        await engine.Policies.ApplyAsync(db, [hostId], null, cancellationToken, hostsTalking: true);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>The package a job installs (a job's package never changes).</summary>
    private sealed record JobPackage(string Name, string NameKey, string Version);

    /// <summary>A job's package, compiled: read for the successes of every report batch, one query per job of the batch.</summary>
    private static readonly Func<DistDbContext, int, CancellationToken, Task<JobPackage?>> JobPackageQuery = EF.CompileAsyncQuery(
        (DistDbContext db, int jobId, CancellationToken cancellationToken) =>
            (from j in db.Jobs
             join p in db.Packages on j.PackageId equals p.Id
             where j.Id == jobId
             select new JobPackage(p.Name, p.NameKey, p.Version)).FirstOrDefault());

    /// <summary>
    /// The JP1Dist rows of one package name on some hosts, deleted, compiled: run for the successes of every report batch
    /// (EF Core otherwise walks the DELETE's expression tree and looks it up in its query cache each time).
    /// </summary>
    private static readonly Func<DistDbContext, string, List<Guid>, CancellationToken, Task<int>> DeleteRecordedQuery = EF.CompileAsyncQuery(
        (DistDbContext db, string nameKey, List<Guid> hostIds, CancellationToken cancellationToken) =>
            db.HostSoftware.Where(s => s.NameKey == nameKey && s.Source == JP1DistSource && hostIds.Contains(s.HostId)).ExecuteDelete());

    /// <summary>
    /// Records that JP1Dist installed each job's package on its host, for the successes of one shared commit (GroupCommit;
    /// <c>Distribution/ReportWrites</c>), in the caller's transaction: one query for each job's package, one DELETE per
    /// package name, the new rows in multi-row INSERTs, and the policies evaluated once for all the hosts. A later success of
    /// the same host and package name in <paramref name="installed"/> wins, as it would one at a time. Leaves nothing tracked
    /// in the shared context.
    /// </summary>
    internal async Task RecordInstalledAsync(DistDbContext db, IReadOnlyList<(Guid HostId, int JobId)> installed, CancellationToken cancellationToken)
    {
        var packages = new Dictionary<int, JobPackage?>();
        foreach (var jobId in installed.Select(i => i.JobId).Distinct())
        {
            packages[jobId] = await JobPackageQuery(db, jobId, cancellationToken);
        }
        // One JP1Dist row per host and package name: a newer version replaces the older one.
        var rows = new Dictionary<(Guid HostId, string NameKey), (string Name, string Version)>();
        foreach (var (hostId, jobId) in installed)
        {
            if (packages[jobId] is { } package)
            {
                rows[(hostId, package.NameKey)] = (package.Name, package.Version);
            }
        }
        if (rows.Count == 0)
        {
            return;
        }
        foreach (var byName in rows.Keys.GroupBy(k => k.NameKey, k => k.HostId))
        {
            await DeleteRecordedQuery(db, byName.Key, byName.ToList(), cancellationToken);
        }
        // Multi-row INSERTs, not tracked entities: a shared commit's successes are dozens of rows, and EF Core's change
        // tracking of them was most of the cost of recording them.
        await MultiRowInsert.ExecuteAsync(db, "HostSoftware", ["HostId", "Name", "NameKey", "Version"],
            rows.Select(r => new object?[] { r.Key.HostId, r.Value.Name, r.Key.NameKey, r.Value.Version }).ToList(), cancellationToken,
            [("Source", JP1DistSource), ("RecordedAt", engine.Now)]);
        await engine.Policies.ApplyAsync(db, rows.Keys.Select(k => k.HostId).Distinct().ToList(), null, cancellationToken, hostsTalking: true);
    }

    /// <summary>The inventory of every host whose name matches the pattern.</summary>
    public async Task<IReadOnlyList<DistInventory>> ListAsync(string? hostPattern = null, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var matcher = Wildcard.For(hostPattern);
        var hosts = (await db.Hosts.AsNoTracking().OrderBy(h => h.NameKey).ToListAsync(cancellationToken)).Where(h => matcher(h.Name)).ToList();
        var ids = hosts.Select(h => h.Id).ToList();
        var software = (await db.HostSoftware.AsNoTracking().Where(s => ids.Contains(s.HostId)).OrderBy(s => s.NameKey).ToListAsync(cancellationToken))
            .ToLookup(s => s.HostId);
        return hosts.Select(h => new DistInventory(h.Name, h.OS, h.OSVersion, h.Architecture, h.CpuCount, h.MemoryMB,
            (JsonSerializer.Deserialize<VolumeFact[]>(h.VolumesJson, ProtocolJson.Options) ?? []).Select(v => new DistVolume(v.Name, v.SizeMB, v.FreeMB)).ToList(),
            JsonSerializer.Deserialize<string[]>(h.AddressesJson) ?? [],
            JsonSerializer.Deserialize<string[]>(h.MacAddressesJson) ?? [],
            software[h.Id].Select(s => new DistSoftware(h.Name, s.Name, s.Version, s.Source, s.RecordedAt.AsLocal(), h.Id)).ToList(),
            h.FactsUpdatedAt.AsLocal(), h.Id)).ToList();
    }

    /// <summary>
    /// Installed software matching a pattern such as <c>openssl&lt;3.0</c> or <c>Office*</c>, on hosts whose names match:
    /// "which hosts have X below version Y" in one call. A malformed pattern is a DistException.
    /// </summary>
    public async Task<IReadOnlyList<DistSoftware>> FindSoftwareAsync(string softwarePattern, string? hostPattern = null, CancellationToken cancellationToken = default)
    {
        var pattern = SoftwareSpec.Parse(softwarePattern);
        await using var db = engine.Database.CreateContext();
        var rows = from s in db.HostSoftware.AsNoTracking()
                   join h in db.Hosts on s.HostId equals h.Id
                   select new { s, h.Name, HostKey = h.NameKey };
        if (pattern.IsExactName)
        {
            var key = Names.Key(pattern.Name);
            rows = rows.Where(r => r.s.NameKey == key);
        }
        else if (Names.Key(Wildcard.LiteralPrefix(pattern.Name)) is { Length: > 0 } prefix)
        {
            // 'Office*' reads only names starting with OFFICE (indexed), not every package of every host.
            rows = rows.Where(r => r.s.NameKey.StartsWith(prefix));
        }
        var hostMatcher = Wildcard.For(hostPattern);
        var list = await rows.OrderBy(r => r.HostKey).ThenBy(r => r.s.NameKey).ToListAsync(cancellationToken);
        return list.Where(r => hostMatcher(r.Name) && pattern.Matches(r.s.Name, r.s.Version))
            .Select(r => new DistSoftware(r.Name, r.s.Name, r.s.Version, r.s.Source, r.s.RecordedAt.AsLocal(), r.s.HostId)).ToList();
    }

    private static string Hash(FactsReport facts) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(facts, ProtocolJson.Options))));
}
