using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

// Views of groups, policies and inventory; each has a view in JP1Dist.Format.ps1xml.

/// <summary>A host group, as Get-DistHostGroup shows it: direct members, nested groups, and every host reached.</summary>
public sealed record DistHostGroup(
    string Name,
    string? Description,
    IReadOnlyList<string> Hosts,
    IReadOnlyList<string> Groups,
    int HostCount,
    DateTime CreatedAt,
    int Id)
{
    /// <summary>The member hosts, read as "a, b" as text (Export-Csv), a list for scripts.</summary>
    public IReadOnlyList<string> Hosts { get; init => field = DistList.Of(value); } = DistList.Of(Hosts);

    /// <summary>The nested groups, read as "a, b" as text.</summary>
    public IReadOnlyList<string> Groups { get; init => field = DistList.Of(value); } = DistList.Of(Groups);
}

/// <summary>A member of an ID group: how and when it joined.</summary>
public sealed record DistIdGroupMember(string IdGroup, string HostName, MembershipSource Source, DateTime AddedAt, Guid HostId);

/// <summary>An ID group, as Get-DistIdGroup shows it.</summary>
public sealed record DistIdGroup(
    string Name,
    string? Description,
    IReadOnlyList<DistIdGroupMember> Members,
    int RuleCount,
    DateTime? PolicyUpdatedAt,
    DateTime CreatedAt,
    int Id)
{
    /// <summary>The member host names.</summary>
    public IReadOnlyList<string> HostNames => DistList.Of(Members.Select(m => m.HostName));
}

/// <summary>One rule of a policy: fact name to pattern(s).</summary>
public sealed record DistPolicyRule(IReadOnlyDictionary<string, IReadOnlyList<string>> Conditions)
{
    public override string ToString() => string.Join("; ", Conditions.Select(c => $"{c.Key} = {string.Join(", ", c.Value.Select(v => $"'{v}'"))}"));
}

/// <summary>An ID group's policy, as Get-DistIdGroupPolicy shows it.</summary>
public sealed record DistIdGroupPolicy(string IdGroup, IReadOnlyList<DistPolicyRule> Rules, DateTime? UpdatedAt);

/// <summary>A volume of a host with its size and free space.</summary>
public sealed record DistVolume(string Name, long SizeMB, long FreeMB);

/// <summary>One installed piece of software on one host.</summary>
public sealed record DistSoftware(string HostName, string Name, string Version, string Source, DateTime RecordedAt, Guid HostId);

/// <summary>A host's hardware and software facts, as Get-DistInventory shows them.</summary>
public sealed record DistInventory(
    string HostName,
    string OS,
    string OSVersion,
    string Architecture,
    int CpuCount,
    long MemoryMB,
    IReadOnlyList<DistVolume> Volumes,
    IReadOnlyList<string> Addresses,
    IReadOnlyList<string> MacAddresses,
    IReadOnlyList<DistSoftware> Software,
    DateTime? FactsUpdatedAt,
    Guid HostId);
