using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

/// <summary>What the names in a job's -Destination are.</summary>
public enum DestinationType
{
    /// <summary>Registered hosts.</summary>
    Host = 0,
    /// <summary>Host groups, expanded (with nested groups) into their hosts when the job is executed.</summary>
    HostGroup = 1,
    /// <summary>One ID group: every member now, and every host that joins later.</summary>
    IdGroup = 2,
    /// <summary>
    /// Relays, meaning every host below each of them at all levels (lower relays included, not the named relay), as
    /// registered when the job is executed; a host that registers under the relay later is reached by a re-execution.
    /// </summary>
    AllLowerClients = 3,
}

/// <summary>How a host came to be in an ID group.</summary>
public enum MembershipSource
{
    /// <summary>An administrator added it (Add-DistIdGroupMember); it stays until removed by hand.</summary>
    Manual = 0,
    /// <summary>The group's policy admitted it; it leaves when it stops matching.</summary>
    Policy = 1,
}
