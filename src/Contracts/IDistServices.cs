namespace JP1Dist.Contracts;

/// <summary>
/// Everything a PowerShell session can ask of a manager, one interface per noun. A session holds one implementation:
/// the engine in-process on a data folder (the default), or later a manager's API over HTTPS. The cmdlets call only
/// these interfaces, so they do not know which; every implementation throws <see cref="Protocol.DistException"/> with the
/// same error ids for the same mistakes.
/// </summary>
public interface IDistServices
{
    /// <summary>Where the cmdlets act, as a person reads it: the data folder's path, or the manager's URL.</summary>
    string Location { get; }

    IPackageService Packages { get; }

    IJobService Jobs { get; }

    IHostService Hosts { get; }

    IHostGroupService HostGroups { get; }

    IIdGroupService IdGroups { get; }

    IInventoryService Inventory { get; }

    IManagerService Managers { get; }

    ISigningKeyService SigningKeys { get; }

    IAccessKeyService AccessKeys { get; }

    IAuditService Audit { get; }

    IOfflineMediaService Offline { get; }
}
