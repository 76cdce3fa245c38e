using System.Collections.Concurrent;
using JP1Dist.Contracts;
using JP1Dist.Core.Audit;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Groups;
using JP1Dist.Core.Hosts;
using JP1Dist.Core.Inventory;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Policies;
using JP1Dist.Core.Security;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Core;

/// <summary>
/// The engine opened on one data folder: the services that cmdlets call in-process (through <see cref="IDistServices"/>)
/// and that the manager serves over HTTP. One instance per folder and process is enough; it holds no open connections.
/// </summary>
public sealed class DistEngine : IDistServices
{
    private static readonly ConcurrentDictionary<string, DistEngine> Open = new(StringComparer.Ordinal);

    public DistEngine(DataFolder folder, TimeProvider? time = null)
        : this(folder, null, time)
    {
    }

    /// <summary>An engine on <paramref name="folder"/> whose tables are in <paramref name="database"/> (null: what <see cref="DatabaseSettings.Resolve"/> finds).</summary>
    public DistEngine(DataFolder folder, DatabaseSettings? database, TimeProvider? time = null)
        : this(null, folder, time ?? TimeProvider.System, new DistDatabase(folder, database), new ContentStore(folder.ContentPath), DistCaller.Local)
    {
    }

    /// <summary>
    /// An engine acting for <paramref name="caller"/>. The engine of another caller (<paramref name="local"/> given) shares the
    /// local engine's folder, database, clock, loaded keys, policy cache and launched manager, with services of its own that
    /// check and record this caller.
    /// </summary>
    private DistEngine(DistEngine? local, DataFolder folder, TimeProvider time, DistDatabase database, ContentStore content, DistCaller caller)
    {
        _local = local;
        Folder = folder;
        Time = time;
        Database = database;
        Content = content;
        Caller = caller;
        Writes = local?.Writes ?? new GroupCommit(database);
        SigningKeys = new SigningKeyService(this, local?.SigningKeys);
        Managers = new ManagerService(this, local?.Managers);
        Policies = local?.Policies ?? new PolicyEvaluator(this);
        TargetChanges = local?.TargetChanges ?? new TargetChanges();
        Signals = local?.Signals ?? new HostSignals();
        Inventory = local?.Inventory ?? new InventoryService(this);
        Packages = new PackageService(this);
        Uploads = new PackageUploads(this, local?.Uploads);
        Hosts = new HostService(this);
        Jobs = new JobService(this);
        HostGroups = new HostGroupService(this);
        IdGroups = new IdGroupService(this);
        AccessKeys = new AccessKeyService(this);
        Audit = new AuditService(this);
        Offline = new OfflineMediaService(this);
        // After everything it uses: one per folder and process, whoever the caller, so every report through it (an agent's,
        // or an offline result imported) signals the same waits and writes through the same group commit.
        Distribution = local?.Distribution ?? new DistributionService(this, Signals);
    }

    private readonly DistEngine? _local;

    /// <summary>
    /// Who this engine acts for: whose role every change is checked against and whom the audit log names. The engine opened
    /// on a data folder acts for the local user (<see cref="DistCaller.Local"/>, an Administrator); <see cref="As"/> makes
    /// the engine of another caller.
    /// </summary>
    public DistCaller Caller { get; }

    /// <summary>
    /// The services acting for <paramref name="caller"/>: what the manager's admin API uses for each request, with the caller
    /// its access key verified (<see cref="AccessKeyService.VerifyAsync"/>) and the address the request came from. Every
    /// change is refused unless the caller's role allows it (PermissionDenied) and is recorded in the audit log under the
    /// caller's name and source. Cheap: a few small objects per call, nothing opened.
    /// </summary>
    public DistEngine As(DistCaller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var local = _local ?? this;
        return new DistEngine(local, local.Folder, local.Time, local.Database, local.Content, caller);
    }

    public DataFolder Folder { get; }
    public TimeProvider Time { get; }
    public DistDatabase Database { get; }

    /// <summary>
    /// The shared write transactions of small concurrent writes (reports, last-seen times, registrations), one queue per
    /// folder and process whoever the caller, so that they take the database's write lock together instead of one by one.
    /// </summary>
    public GroupCommit Writes { get; }
    public ContentStore Content { get; }
    /// <summary>The manager's signing keys: which one signs now, rotation, announcements.</summary>
    public SigningKeyService SigningKeys { get; }

    /// <summary>The key that signs now (read from the database on every use: a rotation by another process takes effect at once).</summary>
    public ManifestSigner Signer => SigningKeys.Current().Signer;
    public PackageService Packages { get; }
    /// <summary>Packages being uploaded from sessions elsewhere (the admin API).</summary>
    public PackageUploads Uploads { get; }
    public HostService Hosts { get; }
    public JobService Jobs { get; }
    public HostGroupService HostGroups { get; }
    public IdGroupService IdGroups { get; }
    public PolicyEvaluator Policies { get; }
    public InventoryService Inventory { get; }
    public ManagerService Managers { get; }
    public AccessKeyService AccessKeys { get; }
    public AuditService Audit { get; }
    /// <summary>Offline media: export for a host the network does not reach, import of its result.</summary>
    public OfflineMediaService Offline { get; }

    /// <summary>Signalled when targets change, for waits on a job's status (shared by the engines of every caller).</summary>
    public TargetChanges TargetChanges { get; }

    /// <summary>Wakes the long polls of hosts and relays when their work changes (shared by the engines of every caller; the manager serves with it).</summary>
    public HostSignals Signals { get; }

    /// <summary>
    /// Serving, reports and dispatch (shared by the engines of every caller): the manager's agent API and the offline result
    /// import record through this one instance.
    /// </summary>
    public DistributionService Distribution { get; }

    /// <summary>The current UTC time from the injected clock.</summary>
    public DateTime Now => Time.GetUtcNow().UtcDateTime;

    string IDistServices.Location => Folder.Root;
    IPackageService IDistServices.Packages => Packages;
    IJobService IDistServices.Jobs => Jobs;
    IHostService IDistServices.Hosts => Hosts;
    IHostGroupService IDistServices.HostGroups => HostGroups;
    IIdGroupService IDistServices.IdGroups => IdGroups;
    IInventoryService IDistServices.Inventory => Inventory;
    IManagerService IDistServices.Managers => Managers;
    IOfflineMediaService IDistServices.Offline => Offline;
    ISigningKeyService IDistServices.SigningKeys => SigningKeys;
    IAccessKeyService IDistServices.AccessKeys => AccessKeys;
    IAuditService IDistServices.Audit => Audit;

    /// <summary>
    /// The shared engine for a data folder (JP1DIST_HOME or the default when <paramref name="home"/> is null).
    /// <paramref name="executableFolder"/> says where jp1dist is, for a manager started from this process.
    /// </summary>
    public static DistEngine ForFolder(string? home = null, string? executableFolder = null)
    {
        var folder = DataFolder.Resolve(home);
        var engine = Open.GetOrAdd(folder.Root, _ => new DistEngine(folder));
        engine.Managers.ExecutableFolder ??= executableFolder;
        return engine;
    }
}
