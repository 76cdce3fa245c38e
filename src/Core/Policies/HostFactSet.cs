namespace JP1Dist.Core.Policies;

/// <summary>The facts about one host that policy rules look at.</summary>
public sealed record HostFactSet(
    Guid HostId,
    string Name,
    string OS,
    string OSVersion,
    string Architecture,
    IReadOnlyList<string> Addresses,
    IReadOnlyList<string> MacAddresses,
    long MemoryMB,
    int CpuCount,
    IReadOnlySet<string> HostGroups,
    IReadOnlyList<(string Name, string Version)> Software);
