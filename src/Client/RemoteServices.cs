using JP1Dist.Contracts;
using JP1Dist.Protocol;
using P = JP1Dist.Contracts.AdminApiPaths;

namespace JP1Dist.Client;

/// <summary>
/// The service contracts over a manager's admin API: every call one request (<see cref="AdminApiPaths"/>), answered by the
/// engine on the manager acting for the access key's caller. The cmdlets cannot tell it from the engine in-process, but for
/// starting and stopping a manager, which act on the session's own computer and are refused here (ManagerConnected).
/// </summary>
public sealed class RemoteServices : IDistServices, IDisposable
{
    private readonly AdminConnection _connection;

    public RemoteServices(AdminConnection connection)
    {
        _connection = connection;
        Packages = new PackageClient(connection);
        Jobs = new JobClient(connection);
        Hosts = new HostClient(connection);
        HostGroups = new HostGroupClient(connection);
        IdGroups = new IdGroupClient(connection);
        Inventory = new InventoryClient(connection);
        Managers = new ManagerClient(connection);
        SigningKeys = new SigningKeyClient(connection);
        AccessKeys = new AccessKeyClient(connection);
        Audit = new AuditClient(connection);
        Offline = new OfflineClient(connection);
    }

    public string Location => _connection.Manager.ToString();

    /// <summary>The manager's address.</summary>
    public Uri Manager => _connection.Manager;

    /// <summary>The pin the manager's certificate is held to (null: the operating system's trust store).</summary>
    public string? CertificatePin => _connection.CertificatePin;

    public IPackageService Packages { get; }
    public IJobService Jobs { get; }
    public IHostService Hosts { get; }
    public IHostGroupService HostGroups { get; }
    public IIdGroupService IdGroups { get; }
    public IInventoryService Inventory { get; }
    public IManagerService Managers { get; }
    public ISigningKeyService SigningKeys { get; }
    public IAccessKeyService AccessKeys { get; }
    public IAuditService Audit { get; }
    public IOfflineMediaService Offline { get; }

    /// <summary>Who the manager takes the access key for: its name, role and the address it sees.</summary>
    public Task<AdminSession> WhoAmIAsync(CancellationToken cancellationToken = default) => _connection.GetAsync<AdminSession>(P.Session, cancellationToken);

    public void Dispose() => _connection.Dispose();

    private static string? Flag(bool value) => value ? "true" : null;

    private sealed class PackageClient(AdminConnection c) : IPackageService
    {
        /// <summary>Uploads the files of the request's path from this computer (<see cref="PackageUploader"/>) and registers them as the package.</summary>
        public Task<DistPackage> CreateAsync(NewPackageRequest request, IProgress<PackagingProgress>? progress, CancellationToken cancellationToken = default) =>
            new PackageUploader(c).UploadAsync(request, progress, cancellationToken);

        public async Task<IReadOnlyList<DistPackage>> ListAsync(string? namePattern = null, string? version = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistPackage>>(P.Packages, cancellationToken, ("name", namePattern), ("version", version));

        public Task<DistPackage> SetExpiryAsync(string name, string version, DateTime? expiresAt, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistPackage>(HttpMethod.Put, P.Fill(P.PackageExpiry, name, version), new AdminPackageExpiry(expiresAt), cancellationToken);

        public Task RemoveAsync(string name, string version, bool force, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Delete, P.Fill(P.Package, name, version) + AdminConnection.Query(("force", Flag(force))), null, cancellationToken);
    }

    private sealed class JobClient(AdminConnection c) : IJobService
    {
        public Task<DistJob> CreateAsync(NewJobRequest request, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistJob>(HttpMethod.Post, P.Jobs, request, cancellationToken);

        public async Task<IReadOnlyList<DistJob>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistJob>>(P.Jobs, cancellationToken, ("name", namePattern));

        public Task<JobExecutionResult> StartAsync(string jobName, CancellationToken cancellationToken = default) =>
            c.SendAsync<JobExecutionResult>(HttpMethod.Post, P.Fill(P.JobStart, jobName), null, cancellationToken);

        public Task<JobExecutionResult> RestartAsync(string jobName, IReadOnlyCollection<string>? hostNames, CancellationToken cancellationToken = default) =>
            c.SendAsync<JobExecutionResult>(HttpMethod.Post, P.Fill(P.JobRestart, jobName), new AdminMembers(hostNames?.ToList()), cancellationToken);

        public async Task<IReadOnlyList<DistJobStatus>> ControlAsync(string jobName, IReadOnlyCollection<string>? hostNames, JobControlAction action, CancellationToken cancellationToken = default) =>
            await c.SendAsync<List<DistJobStatus>>(HttpMethod.Post, P.Fill(action switch
            {
                JobControlAction.Suspend => P.JobSuspend,
                JobControlAction.Resume => P.JobResume,
                _ => P.JobStop,
            }, jobName), new AdminMembers(hostNames?.ToList()), cancellationToken);

        public async Task<IReadOnlyList<DistJobStatus>> GetStatusAsync(JobStatusQuery query, CancellationToken cancellationToken = default) =>
            await StreamStatusAsync(query, cancellationToken).ToListAsync(cancellationToken);

        public IAsyncEnumerable<DistJobStatus> StreamStatusAsync(JobStatusQuery query, CancellationToken cancellationToken = default) =>
            c.StreamAsync<DistJobStatus>(P.JobStatus, cancellationToken,
                [("job", query.JobName), ("host", query.HostName), .. (query.Statuses ?? []).Select(s => ("status", (string?)s.ToString()))]);

        public Task<DistJobStatusChange> WaitForStatusChangeAsync(IReadOnlyList<string> jobNames, string? version, TimeSpan wait, CancellationToken cancellationToken = default) =>
            c.GetAsync<DistJobStatusChange>(P.JobStatusWait, cancellationToken,
                [.. jobNames.Select(j => ("job", (string?)j)), ("version", version), ("wait", ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture))]);

        public Task RemoveAsync(string jobName, bool force, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Delete, P.Fill(P.Job, jobName) + AdminConnection.Query(("force", Flag(force))), null, cancellationToken);
    }

    private sealed class HostClient(AdminConnection c) : IHostService
    {
        public Task<DistEnrollmentToken> NewEnrollmentTokenAsync(NewEnrollmentTokenRequest request, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistEnrollmentToken>(HttpMethod.Post, P.EnrollmentTokens, request, cancellationToken);

        public async Task<IReadOnlyList<DistEnrollmentToken>> ListEnrollmentTokensAsync(CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistEnrollmentToken>>(P.EnrollmentTokens, cancellationToken);

        public Task RemoveEnrollmentTokenAsync(int id, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Delete, P.Fill(P.EnrollmentToken, id.ToString(System.Globalization.CultureInfo.InvariantCulture)), null, cancellationToken);

        public async Task<IReadOnlyList<DistHost>> ListAsync(HostQuery query, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistHost>>(P.Hosts, cancellationToken, ("name", query.NamePattern), ("higherSystem", query.HigherSystem), ("recurse", Flag(query.Recurse)),
                ("hostGroup", query.HostGroup), ("idGroup", query.IdGroup));

        public Task RemoveAsync(string name, bool force, bool revoke, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Delete, P.Fill(P.Host, name) + AdminConnection.Query(("force", Flag(force)), ("revoke", Flag(revoke))), null, cancellationToken);

        public async Task<IReadOnlyList<DistPendingHost>> ListPendingAsync(string? namePattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistPendingHost>>(P.PendingHosts, cancellationToken, ("name", namePattern));

        public Task<DistHost> ApproveAsync(string name, bool replace, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistHost>(HttpMethod.Post, P.Fill(P.PendingHostApprove, name) + AdminConnection.Query(("replace", Flag(replace))), null, cancellationToken);

        public Task DenyAsync(string name, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Post, P.Fill(P.PendingHostDeny, name), null, cancellationToken);

        public async Task<IReadOnlyList<DistHostWake>> WakeAsync(WakeHostsRequest request, CancellationToken cancellationToken = default) =>
            await c.SendAsync<List<DistHostWake>>(HttpMethod.Post, P.HostsWake, request, cancellationToken);

        public async Task<IReadOnlyList<DistHostPower>> StopAsync(StopHostsRequest request, CancellationToken cancellationToken = default) =>
            await c.SendAsync<List<DistHostPower>>(HttpMethod.Post, P.HostsStop, request, cancellationToken);
    }

    private sealed class HostGroupClient(AdminConnection c) : IHostGroupService
    {
        public Task<DistHostGroup> CreateAsync(string name, string? description, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistHostGroup>(HttpMethod.Post, P.HostGroups, new AdminNewGroup(name, description), cancellationToken);

        public async Task<IReadOnlyList<DistHostGroup>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistHostGroup>>(P.HostGroups, cancellationToken, ("name", namePattern));

        public Task<DistHostGroup> AddMembersAsync(string groupName, IReadOnlyCollection<string>? hostNames, IReadOnlyCollection<string>? groupNames, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistHostGroup>(HttpMethod.Post, P.Fill(P.HostGroupMembersAdd, groupName), new AdminMembers(hostNames?.ToList(), groupNames?.ToList()), cancellationToken);

        public Task<DistHostGroup> RemoveMembersAsync(string groupName, IReadOnlyCollection<string>? hostNames, IReadOnlyCollection<string>? groupNames, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistHostGroup>(HttpMethod.Post, P.Fill(P.HostGroupMembersRemove, groupName), new AdminMembers(hostNames?.ToList(), groupNames?.ToList()), cancellationToken);

        public Task RemoveAsync(string groupName, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Delete, P.Fill(P.HostGroup, groupName), null, cancellationToken);
    }

    private sealed class IdGroupClient(AdminConnection c) : IIdGroupService
    {
        public Task<DistIdGroup> CreateAsync(string name, string? description, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistIdGroup>(HttpMethod.Post, P.IdGroups, new AdminNewGroup(name, description), cancellationToken);

        public async Task<IReadOnlyList<DistIdGroup>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistIdGroup>>(P.IdGroups, cancellationToken, ("name", namePattern));

        public Task<DistIdGroup> AddMembersAsync(string groupName, IReadOnlyCollection<string> hostNames, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistIdGroup>(HttpMethod.Post, P.Fill(P.IdGroupMembersAdd, groupName), new AdminMembers(hostNames.ToList()), cancellationToken);

        public Task<DistIdGroup> RemoveMembersAsync(string groupName, IReadOnlyCollection<string> hostNames, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistIdGroup>(HttpMethod.Post, P.Fill(P.IdGroupMembersRemove, groupName), new AdminMembers(hostNames.ToList()), cancellationToken);

        public Task RemoveAsync(string groupName, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Delete, P.Fill(P.IdGroup, groupName), null, cancellationToken);

        public Task<DistIdGroupPolicy> SetPolicyAsync(string groupName, IReadOnlyList<IReadOnlyDictionary<string, IReadOnlyList<string>>> rules, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistIdGroupPolicy>(HttpMethod.Put, P.Fill(P.IdGroupPolicy, groupName), new AdminPolicy(rules), cancellationToken);

        public async Task<IReadOnlyList<DistIdGroupPolicy>> GetPoliciesAsync(string? namePattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistIdGroupPolicy>>(P.IdGroupPolicies, cancellationToken, ("name", namePattern));
    }

    private sealed class InventoryClient(AdminConnection c) : IInventoryService
    {
        public async Task<IReadOnlyList<DistInventory>> ListAsync(string? hostPattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistInventory>>(P.Inventory, cancellationToken, ("host", hostPattern));

        public async Task<IReadOnlyList<DistSoftware>> FindSoftwareAsync(string softwarePattern, string? hostPattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistSoftware>>(P.Software, cancellationToken, ("name", softwarePattern), ("host", hostPattern));
    }

    private sealed class ManagerClient(AdminConnection c) : IManagerService
    {
        public async Task<IReadOnlyList<DistManagerInfo>> ListAsync(CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistManagerInfo>>(P.Managers, cancellationToken);

        public Task<DistManagerInfo> StartAsync(ManagerStartRequest request, TimeSpan timeout, CancellationToken cancellationToken = default) => throw Local("Start-DistManager");

        public DistManagerInfo GetStartedHere() => throw Local("Stop-DistManager");

        public Task StopAsync(int processId, TimeSpan timeout, CancellationToken cancellationToken = default) => throw Local("Stop-DistManager");

        private DistException Local(string cmdlet) => new("ManagerConnected", DistErrorKind.InvalidOperation,
            $"{cmdlet} acts on a manager of this computer, and this session is connected to the manager at {c.Manager}; Disconnect-DistManager first.", c.Manager.ToString());
    }

    private sealed class SigningKeyClient(AdminConnection c) : ISigningKeyService
    {
        public async Task<IReadOnlyList<DistSigningKey>> ListAsync(CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistSigningKey>>(P.SigningKeys, cancellationToken);

        public async Task<IReadOnlyList<DistSigningKey>> RotateAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default) =>
            await c.SendAsync<List<DistSigningKey>>(HttpMethod.Post, P.SigningKeyRotation, new AdminRotation(gracePeriod), cancellationToken);
    }

    private sealed class AccessKeyClient(AdminConnection c) : IAccessKeyService
    {
        public Task<DistAccessKey> CreateAsync(NewAccessKeyRequest request, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistAccessKey>(HttpMethod.Post, P.AccessKeys, request, cancellationToken);

        public async Task<IReadOnlyList<DistAccessKey>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistAccessKey>>(P.AccessKeys, cancellationToken, ("name", namePattern));

        public Task RemoveAsync(string name, CancellationToken cancellationToken = default) =>
            c.SendAsync(HttpMethod.Delete, P.Fill(P.AccessKey, name), null, cancellationToken);
    }

    private sealed class AuditClient(AdminConnection c) : IAuditService
    {
        public async Task<IReadOnlyList<DistAuditEntry>> ListAsync(AuditQuery query, CancellationToken cancellationToken = default) =>
            await c.GetAsync<List<DistAuditEntry>>(P.AuditLog, cancellationToken, ("since", query.Since?.ToString("o", System.Globalization.CultureInfo.InvariantCulture)),
                ("principal", query.Principal), ("operation", query.Operation), ("target", query.Target),
                ("first", query.First.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    private sealed class OfflineClient(AdminConnection c) : IOfflineMediaService
    {
        public Task<DistOfflineMedia> ExportAsync(string jobName, string hostName, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistOfflineMedia>(HttpMethod.Post, P.OfflineMedia, new AdminOfflineExport(jobName, hostName), cancellationToken);

        public Task<Stream> OpenContentAsync(Guid mediaId, string sha256, CancellationToken cancellationToken = default) =>
            c.GetStreamAsync(P.Fill(P.OfflineContent, mediaId.ToString(), sha256), cancellationToken);

        public Task<DistJobStatus> ImportResultAsync(OfflineResultUpload upload, CancellationToken cancellationToken = default) =>
            c.SendAsync<DistJobStatus>(HttpMethod.Post, P.OfflineResults, upload, cancellationToken);
    }
}
