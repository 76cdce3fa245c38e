namespace JP1Dist.Engine.Conditions;

/// <summary>
/// The facts the manager knows about a host before sending it anything. Today: what the host registered (OS, OS
/// version, architecture). The seam for richer inventory (issue 4): fill memory, disk and software here from the
/// host's last inventory, and the manager's pre-check decides those conditions too.
/// </summary>
public static class HostConditionFacts
{
    public static ConditionFacts From(string? os, string? osVersion, string? architecture) => new()
    {
        OS = string.IsNullOrWhiteSpace(os) ? null : os,
        OSVersion = string.IsNullOrWhiteSpace(osVersion) ? null : osVersion,
        Architecture = string.IsNullOrWhiteSpace(architecture) ? null : architecture,
    };
}
