using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

/// <summary>What a registered host is: a client, or a relay that also serves lower clients (and is a client too).</summary>
public enum HostKind
{
    /// <summary>A managed computer running the agent.</summary>
    Client = 0,
    /// <summary>A relay system: caches packages, hands jobs down, passes results up; jobs can install on it as well.</summary>
    Relay = 1,
}
