using System.Collections.Concurrent;
using JP1Dist.Engine.Groups;
using JP1Dist.Engine.Hosts;
using JP1Dist.Engine.Inventory;
using JP1Dist.Engine.Jobs;
using JP1Dist.Engine.Packaging;
using JP1Dist.Engine.Policies;
using JP1Dist.Engine.Security;
using JP1Dist.Engine.Storage;

namespace JP1Dist.Engine;

/// <summary>
/// The engine opened on one data folder: the services that cmdlets call in-process and that the
/// manager serves over HTTP. One instance per folder and process is enough; it holds no open connections.
/// </summary>
public sealed class DistEngine
{
    private static readonly ConcurrentDictionary<string, DistEngine> Open = new(StringComparer.Ordinal);
    private readonly Lazy<ManifestSigner> _signer;

    public DistEngine(DataFolder folder, TimeProvider? time = null)
    {
        Folder = folder;
        Time = time ?? TimeProvider.System;
        Database = new DistDatabase(folder);
        Content = new ContentStore(folder.ContentPath);
        _signer = new Lazy<ManifestSigner>(() => ManifestSigner.LoadOrCreate(folder.KeysPath));
        Packages = new PackageService(this);
        Hosts = new HostService(this);
        Jobs = new JobService(this);
        HostGroups = new HostGroupService(this);
        IdGroups = new IdGroupService(this);
        Policies = new PolicyEvaluator(this);
        Inventory = new InventoryService(this);
    }

    public DataFolder Folder { get; }
    public TimeProvider Time { get; }
    public DistDatabase Database { get; }
    public ContentStore Content { get; }
    public ManifestSigner Signer => _signer.Value;
    public PackageService Packages { get; }
    public HostService Hosts { get; }
    public JobService Jobs { get; }
    public HostGroupService HostGroups { get; }
    public IdGroupService IdGroups { get; }
    public PolicyEvaluator Policies { get; }
    public InventoryService Inventory { get; }

    /// <summary>The current UTC time from the injected clock.</summary>
    public DateTime Now => Time.GetUtcNow().UtcDateTime;

    /// <summary>The shared engine for a data folder (JP1DIST_HOME or the default when <paramref name="home"/> is null).</summary>
    public static DistEngine ForFolder(string? home = null)
    {
        var folder = DataFolder.Resolve(home);
        return Open.GetOrAdd(folder.Root, _ => new DistEngine(folder));
    }
}
