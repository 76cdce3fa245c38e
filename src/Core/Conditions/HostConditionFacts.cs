using System.Text.Json;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Conditions;

/// <summary>
/// The facts the manager knows about a host before sending it anything: what it registered (OS, OS version,
/// architecture) and its last reported inventory (memory, free space per volume, installed software). A fact the host
/// never reported stays unknown, and the agent decides that condition on the computer itself.
/// </summary>
public static class HostConditionFacts
{
    public static ConditionFacts From(string? os, string? osVersion, string? architecture, long memoryMB = 0, string? volumesJson = null,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? software = null)
    {
        var volumes = ReadVolumes(volumesJson);
        return new ConditionFacts
        {
            OS = string.IsNullOrWhiteSpace(os) ? null : os,
            OSVersion = string.IsNullOrWhiteSpace(osVersion) ? null : osVersion,
            Architecture = string.IsNullOrWhiteSpace(architecture) ? null : architecture,
            MemoryMB = memoryMB > 0 ? memoryMB : null,
            FreeDiskMB = volumes.Count == 0 ? null : path => FreeOn(volumes, path),
            Software = software,
        };
    }

    /// <summary>
    /// The installed software of each host that reported any (name → versions, every source: the OS list and what
    /// JP1Dist installed). A host with no software rows is left out: its software is unknown, not absent.
    /// </summary>
    public static async Task<Dictionary<Guid, IReadOnlyDictionary<string, IReadOnlyList<string>>>> SoftwareAsync(
        DistDbContext db, IReadOnlyCollection<Guid> hostIds, CancellationToken cancellationToken)
    {
        var rows = await db.HostSoftware.AsNoTracking().Where(s => hostIds.Contains(s.HostId))
            .Select(s => new { s.HostId, s.Name, s.Version }).ToListAsync(cancellationToken);
        return rows.GroupBy(r => r.HostId).ToDictionary(
            host => host.Key,
            host => (IReadOnlyDictionary<string, IReadOnlyList<string>>)host
                .GroupBy(r => r.Name, StringComparer.OrdinalIgnoreCase)
                .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(r => r.Version).ToList(), StringComparer.OrdinalIgnoreCase));
    }

    private static List<VolumeFact> ReadVolumes(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return [];
        }
        try
        {
            return JsonSerializer.Deserialize<List<VolumeFact>>(json, ProtocolJson.Options) ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>
    /// Free MiB on the volume holding <paramref name="path"/> on the client: the volume whose name (mount point or drive)
    /// is the longest prefix of the path. Null for a relative path (the agent's staging folder: only the agent knows it)
    /// or a path on no reported volume.
    /// </summary>
    public static long? FreeOn(IReadOnlyList<VolumeFact> volumes, string path)
    {
        var windows = path.Length >= 2 && path[1] == ':';
        if (!windows && !path.StartsWith('/'))
        {
            return null;
        }
        var comparison = windows ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        var normalized = windows ? path.Replace('/', '\\') : path;
        VolumeFact? best = null;
        foreach (var volume in volumes)
        {
            var name = windows ? volume.Name.Replace('/', '\\') : volume.Name;
            var root = name.EndsWith('/') || name.EndsWith('\\') ? name : name + (windows ? "\\" : "/");
            var matches = string.Equals(normalized, name, comparison) || normalized.StartsWith(root, comparison)
                || (windows && name.Length == 2 && normalized.StartsWith(name, comparison));
            if (matches && (best is null || volume.Name.Length > best.Name.Length))
            {
                best = volume;
            }
        }
        return best?.FreeMB;
    }
}
