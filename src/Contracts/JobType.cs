using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

/// <summary>What a job does with its package.</summary>
public enum JobType
{
    /// <summary>Deliver the package to each host and install it.</summary>
    Install = 0,
    /// <summary>Store the package on relays only, until it expires.</summary>
    TransferToRelay = 1,
    /// <summary>Make the package available; the client's user chooses when to install.</summary>
    UserChoice = 2,
}
