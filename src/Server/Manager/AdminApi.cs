using System.Globalization;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Security;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace JP1Dist.Server.Manager;

/// <summary>
/// The manager's admin API (<see cref="AdminApiPaths"/>): every method of the service contracts over HTTPS, for a session
/// connected with Connect-DistManager, except starting and stopping a manager (they act on the session's own computer).
/// Every request under <see cref="AdminApiPaths.Base"/>, the OpenAPI document and paths that do not exist included, needs a
/// valid access key (<see cref="AccessKeyService.VerifyAsync"/>: 401 otherwise), within the key's request limit
/// (<see cref="AdminRateLimit"/>: 429 otherwise), and is served by the engine acting for the
/// key's caller (<see cref="DistEngine.As"/>), which checks the role of every change and writes the audit log. Each
/// endpoint names its operation, and an endpoint whose operation needs more than a Reader is refused for a lesser role
/// before its body is read (403, recorded as Denied). Errors are the agent API's problem details, with the engine error's
/// id, kind and target; bodies are read with the agent API's limits, and JSON is the protocol's (<see cref="ProtocolJson"/>).
/// </summary>
public static class AdminApi
{
    /// <summary>The operation an admin endpoint performs (a name of <see cref="DistOperations"/>), and so the role it needs.</summary>
    public sealed record AdminOperation(string Name);

    /// <summary>An endpoint whose requests the key's request limit does not count (the pieces of an upload).</summary>
    public sealed record Unmetered;

    /// <summary>The engine acting for the caller of this request, set once its key is verified.</summary>
    private sealed record AdminCall(DistEngine Services, DistCaller Caller);

    /// <summary>Registers the OpenAPI document of the admin API (only its endpoints).</summary>
    public static IServiceCollection AddAdminApi(this IServiceCollection services) =>
        services.AddOpenApi(AdminApiPaths.Version, options => options.ShouldInclude = d => d.GroupName == AdminApiPaths.Version);

    /// <summary>The key check and role check in front of every admin path; call after routing, before the endpoints run.</summary>
    public static WebApplication UseAdminApi(this WebApplication app)
    {
        app.UseWhen(context => context.Request.Path.StartsWithSegments(AdminApiPaths.Base), branch => branch.Use(async (context, next) =>
        {
            var engine = context.RequestServices.GetRequiredService<DistEngine>();
            var header = context.Request.Headers.Authorization.ToString();
            var presented = header.StartsWith(AdminApiPaths.Scheme + " ", StringComparison.OrdinalIgnoreCase) ? header[(AdminApiPaths.Scheme.Length + 1)..].Trim() : null;
            var source = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            // Throws AccessKeyMissing, AccessKeyUnknown, AccessKeyExpired or AccessKeyRemoved: a 401 through UseDistProblemDetails.
            // Null when the key or the address is over its request limit: answered 429 already.
            if (await context.RequestServices.GetRequiredService<AdminRateLimit>().AdmitAsync(context, presented, source,
                () => engine.AccessKeys.VerifyAsync(presented, source, context.RequestAborted),
                metered: context.GetEndpoint()?.Metadata.GetMetadata<Unmetered>() is null) is not { } caller)
            {
                return;
            }
            var services = engine.As(caller);
            context.Features.Set(new AdminCall(services, caller));
            if (context.GetEndpoint()?.Metadata.GetMetadata<AdminOperation>() is { } operation && DistOperations.RequiredRole(operation.Name) > DistRole.Reader)
            {
                await services.Audit.RequireAsync(operation.Name, TargetOf(context), context.RequestAborted);
            }
            await next(context);
        }));
        return app;
    }

    /// <summary>What a refused change names as its target: the route's name (and version), else nothing.</summary>
    private static string? TargetOf(HttpContext context) =>
        context.Request.RouteValues.TryGetValue("name", out var name) && name is string n
            ? context.Request.RouteValues.TryGetValue("version", out var version) && version is string v ? $"{n}@{v}" : n
            : null;

    /// <summary>Maps every admin endpoint and the OpenAPI document.</summary>
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi(AdminApiPaths.OpenApi);
        var api = app.MapGroup(AdminApiPaths.Base).WithGroupName(AdminApiPaths.Version);
        api.ProducesProblem(400).ProducesProblem(401).ProducesProblem(403);

        api.MapGet(AdminApiPaths.Session, (HttpContext c) =>
        {
            var caller = c.Features.Get<AdminCall>()!.Caller;
            return Reply(new AdminSession(caller.Principal, caller.Role, caller.Source));
        }).Op(DistOperations.GetManager).Produces<AdminSession>();

        // Packages.
        api.MapGet(AdminApiPaths.Packages, async (HttpContext c, string? name, string? version) =>
            Reply(await Services(c).Packages.ListAsync(name, version, c.RequestAborted))).Op(DistOperations.GetPackage).Produces<IReadOnlyList<DistPackage>>();
        // A package's files are uploaded (PackageUploads): never read from a path on the manager's disk.
        api.MapPost(AdminApiPaths.Uploads, (HttpContext c, CancellationToken _) => WithBody<NewPackageUpload>(c, "a package upload (JSON with package and files)",
            async upload => await Services(c).Uploads.BeginAsync(upload, c.RequestAborted))).Op(DistOperations.NewPackage)
            .Accepts<NewPackageUpload>("application/json").Produces<PackageUploadState>();
        api.MapGet(AdminApiPaths.Upload, async (HttpContext c, string id) =>
            Reply(await Services(c).Uploads.GetAsync(id, c.RequestAborted))).Op(DistOperations.NewPackage).Produces<PackageUploadState>();
        api.MapPut(AdminApiPaths.UploadFile, async (HttpContext c, string id, int index, long? offset) =>
        {
            if (c.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = PackageUploadProtocol.MaxChunkBytes;
            }
            if (offset is null)
            {
                throw new DistException("RequestFieldInvalid", DistErrorKind.InvalidArgument, "A piece of an upload names its offset in the file (?offset=N).", "offset");
            }
            var digest = PackageUploadProtocol.ParseDigest(c.Request.Headers[PackageUploadProtocol.DigestHeader].ToString());
            return Reply(await Services(c).Uploads.AppendAsync(id, index, offset.Value, c.Request.Body, digest, c.RequestAborted));
        }).Op(DistOperations.NewPackage).WithMetadata(new Unmetered()).Accepts<byte[]>("application/octet-stream").Produces<PackageUploadChunk>();
        api.MapPost(AdminApiPaths.UploadPackage, async (HttpContext c, string id) =>
            Reply(await Services(c).Uploads.CompleteAsync(id, c.RequestAborted))).Op(DistOperations.NewPackage).Produces<DistPackage>();
        api.MapDelete(AdminApiPaths.Upload, async (HttpContext c, string id) =>
        {
            await Services(c).Uploads.AbandonAsync(id, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.NewPackage);
        api.MapPut(AdminApiPaths.PackageExpiry, (HttpContext c, string name, string version) => WithBody<AdminPackageExpiry>(c, "a package expiry (JSON with expiresAt)",
            async body => await Services(c).Packages.SetExpiryAsync(name, version, body.ExpiresAt, c.RequestAborted))).Op(DistOperations.SetPackage).Accepts<AdminPackageExpiry>("application/json").Produces<DistPackage>();
        api.MapDelete(AdminApiPaths.Package, async (HttpContext c, string name, string version, bool? force) =>
        {
            await Services(c).Packages.RemoveAsync(name, version, force ?? false, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.RemovePackage);

        // Jobs.
        api.MapGet(AdminApiPaths.Jobs, async (HttpContext c, string? name) =>
            Reply(await Services(c).Jobs.ListAsync(name, c.RequestAborted))).Op(DistOperations.GetJob).Produces<IReadOnlyList<DistJob>>();
        api.MapPost(AdminApiPaths.Jobs, (HttpContext c, CancellationToken _) => WithBody<NewJobRequest>(c, "a job (JSON with name, packageName and destinations)",
            async request => await Services(c).Jobs.CreateAsync(request, c.RequestAborted))).Op(DistOperations.NewJob).Accepts<NewJobRequest>("application/json").Produces<DistJob>();
        api.MapPost(AdminApiPaths.JobStart, async (HttpContext c, string name) =>
            Reply(await Services(c).Jobs.StartAsync(name, c.RequestAborted))).Op(DistOperations.StartJob).Produces<JobExecutionResult>();
        api.MapPost(AdminApiPaths.JobRestart, (HttpContext c, string name) => WithBody<AdminMembers>(c, "the hosts (JSON with hosts, or {})",
            async body => await Services(c).Jobs.RestartAsync(name, body.Hosts, c.RequestAborted))).Op(DistOperations.RestartJob).Accepts<AdminMembers>("application/json").Produces<JobExecutionResult>();
        MapControl(api, AdminApiPaths.JobSuspend, JobControlAction.Suspend, DistOperations.SuspendJob);
        MapControl(api, AdminApiPaths.JobResume, JobControlAction.Resume, DistOperations.ResumeJob);
        MapControl(api, AdminApiPaths.JobStop, JobControlAction.Cancel, DistOperations.StopJob);
        // Streamed: the rows go out as they are read, and a refusal (no such job) is answered before the first of them.
        api.MapGet(AdminApiPaths.JobStatus, async (HttpContext c, string? job, string? host, string[]? status) =>
            Reply(await Prefetched.FirstAsync(Services(c).Jobs.StreamStatusAsync(new JobStatusQuery(job, host, ParseStatuses(status)), c.RequestAborted))))
            .Op(DistOperations.GetJobStatus).Produces<IReadOnlyList<DistJobStatus>>();
        api.MapGet(AdminApiPaths.JobStatusWait, async (HttpContext c, IHostApplicationLifetime lifetime, string[]? job, string? version, int? wait) =>
        {
            // A manager that stops ends its waits at once instead of holding its shutdown for them.
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(c.RequestAborted, lifetime.ApplicationStopping);
            return Reply(await Services(c).Jobs.WaitForStatusChangeAsync(job ?? [], version, TimeSpan.FromSeconds(wait ?? 0), waiting.Token));
        }).Op(DistOperations.WaitJob).Produces<DistJobStatusChange>();
        api.MapDelete(AdminApiPaths.Job, async (HttpContext c, string name, bool? force) =>
        {
            await Services(c).Jobs.RemoveAsync(name, force ?? false, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.RemoveJob);

        // Hosts and enrollment.
        api.MapPost(AdminApiPaths.EnrollmentTokens, (HttpContext c, CancellationToken _) => WithBody<NewEnrollmentTokenRequest>(c, "an enrollment token request (JSON)",
            async request => await Services(c).Hosts.NewEnrollmentTokenAsync(request, c.RequestAborted))).Op(DistOperations.NewEnrollmentToken)
            .Accepts<NewEnrollmentTokenRequest>("application/json").Produces<DistEnrollmentToken>();
        api.MapGet(AdminApiPaths.EnrollmentTokens, async (HttpContext c, CancellationToken _) =>
            Reply(await Services(c).Hosts.ListEnrollmentTokensAsync(c.RequestAborted))).Op(DistOperations.GetEnrollmentToken).Produces<IReadOnlyList<DistEnrollmentToken>>();
        api.MapDelete(AdminApiPaths.EnrollmentToken, async (HttpContext c, int id) =>
        {
            await Services(c).Hosts.RemoveEnrollmentTokenAsync(id, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.RemoveEnrollmentToken);
        api.MapGet(AdminApiPaths.Hosts, async (HttpContext c, string? name, string? higherSystem, bool? recurse, string? hostGroup, string? idGroup) =>
            Reply(await Services(c).Hosts.ListAsync(new HostQuery(name, higherSystem, recurse ?? false, hostGroup, idGroup), c.RequestAborted))).Op(DistOperations.GetHost).Produces<IReadOnlyList<DistHost>>();
        api.MapDelete(AdminApiPaths.Host, async (HttpContext c, string name, bool? force, bool? revoke) =>
        {
            await Services(c).Hosts.RemoveAsync(name, force ?? false, revoke ?? false, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.RemoveHost);
        api.MapPost(AdminApiPaths.HostsWake, (HttpContext c, CancellationToken _) => WithBody<WakeHostsRequest>(c, "a wake request (JSON)",
            async request => await Services(c).Hosts.WakeAsync(request, c.RequestAborted))).Op(DistOperations.StartHost)
            .Accepts<WakeHostsRequest>("application/json").Produces<IReadOnlyList<DistHostWake>>();
        api.MapPost(AdminApiPaths.HostsStop, (HttpContext c, CancellationToken _) => WithBody<StopHostsRequest>(c, "a shutdown request (JSON)",
            async request => await Services(c).Hosts.StopAsync(request, c.RequestAborted))).Op(DistOperations.StopHost)
            .Accepts<StopHostsRequest>("application/json").Produces<IReadOnlyList<DistHostPower>>();
        api.MapGet(AdminApiPaths.PendingHosts, async (HttpContext c, string? name) =>
            Reply(await Services(c).Hosts.ListPendingAsync(name, c.RequestAborted))).Op(DistOperations.GetHost).Produces<IReadOnlyList<DistPendingHost>>();
        api.MapPost(AdminApiPaths.PendingHostApprove, async (HttpContext c, string name, bool? replace) =>
            Reply(await Services(c).Hosts.ApproveAsync(name, replace ?? false, c.RequestAborted))).Op(DistOperations.ApproveHost).Produces<DistHost>();
        api.MapPost(AdminApiPaths.PendingHostDeny, async (HttpContext c, string name) =>
        {
            await Services(c).Hosts.DenyAsync(name, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.DenyHost);

        // Host groups.
        api.MapPost(AdminApiPaths.HostGroups, (HttpContext c, CancellationToken _) => WithBody<AdminNewGroup>(c, "a group (JSON with name and description)",
            async body => await Services(c).HostGroups.CreateAsync(body.Name, body.Description, c.RequestAborted))).Op(DistOperations.NewHostGroup)
            .Accepts<AdminNewGroup>("application/json").Produces<DistHostGroup>();
        api.MapGet(AdminApiPaths.HostGroups, async (HttpContext c, string? name) =>
            Reply(await Services(c).HostGroups.ListAsync(name, c.RequestAborted))).Op(DistOperations.GetHostGroup).Produces<IReadOnlyList<DistHostGroup>>();
        api.MapPost(AdminApiPaths.HostGroupMembersAdd, (HttpContext c, string name) => WithBody<AdminMembers>(c, "the members (JSON with hosts and groups)",
            async body => await Services(c).HostGroups.AddMembersAsync(name, body.Hosts, body.Groups, c.RequestAborted))).Op(DistOperations.AddHostGroupMember)
            .Accepts<AdminMembers>("application/json").Produces<DistHostGroup>();
        api.MapPost(AdminApiPaths.HostGroupMembersRemove, (HttpContext c, string name) => WithBody<AdminMembers>(c, "the members (JSON with hosts and groups)",
            async body => await Services(c).HostGroups.RemoveMembersAsync(name, body.Hosts, body.Groups, c.RequestAborted))).Op(DistOperations.RemoveHostGroupMember)
            .Accepts<AdminMembers>("application/json").Produces<DistHostGroup>();
        api.MapDelete(AdminApiPaths.HostGroup, async (HttpContext c, string name) =>
        {
            await Services(c).HostGroups.RemoveAsync(name, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.RemoveHostGroup);

        // ID groups and their policies.
        api.MapPost(AdminApiPaths.IdGroups, (HttpContext c, CancellationToken _) => WithBody<AdminNewGroup>(c, "a group (JSON with name and description)",
            async body => await Services(c).IdGroups.CreateAsync(body.Name, body.Description, c.RequestAborted))).Op(DistOperations.NewIdGroup)
            .Accepts<AdminNewGroup>("application/json").Produces<DistIdGroup>();
        api.MapGet(AdminApiPaths.IdGroups, async (HttpContext c, string? name) =>
            Reply(await Services(c).IdGroups.ListAsync(name, c.RequestAborted))).Op(DistOperations.GetIdGroup).Produces<IReadOnlyList<DistIdGroup>>();
        api.MapPost(AdminApiPaths.IdGroupMembersAdd, (HttpContext c, string name) => WithBody<AdminMembers>(c, "the members (JSON with hosts)",
            async body => await Services(c).IdGroups.AddMembersAsync(name, body.Hosts ?? [], c.RequestAborted))).Op(DistOperations.AddIdGroupMember)
            .Accepts<AdminMembers>("application/json").Produces<DistIdGroup>();
        api.MapPost(AdminApiPaths.IdGroupMembersRemove, (HttpContext c, string name) => WithBody<AdminMembers>(c, "the members (JSON with hosts)",
            async body => await Services(c).IdGroups.RemoveMembersAsync(name, body.Hosts ?? [], c.RequestAborted))).Op(DistOperations.RemoveIdGroupMember)
            .Accepts<AdminMembers>("application/json").Produces<DistIdGroup>();
        api.MapDelete(AdminApiPaths.IdGroup, async (HttpContext c, string name) =>
        {
            await Services(c).IdGroups.RemoveAsync(name, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.RemoveIdGroup);
        api.MapPut(AdminApiPaths.IdGroupPolicy, (HttpContext c, string name) => WithBody<AdminPolicy>(c, "a policy (JSON with rules)",
            async body => await Services(c).IdGroups.SetPolicyAsync(name, body.Rules, c.RequestAborted))).Op(DistOperations.SetIdGroupPolicy)
            .Accepts<AdminPolicy>("application/json").Produces<DistIdGroupPolicy>();
        api.MapGet(AdminApiPaths.IdGroupPolicies, async (HttpContext c, string? name) =>
            Reply(await Services(c).IdGroups.GetPoliciesAsync(name, c.RequestAborted))).Op(DistOperations.GetIdGroupPolicy).Produces<IReadOnlyList<DistIdGroupPolicy>>();

        // Inventory, managers, keys, audit.
        api.MapGet(AdminApiPaths.Inventory, async (HttpContext c, string? host) =>
            Reply(await Services(c).Inventory.ListAsync(host, c.RequestAborted))).Op(DistOperations.GetInventory).Produces<IReadOnlyList<DistInventory>>();
        api.MapGet(AdminApiPaths.Software, async (HttpContext c, string name, string? host) =>
            Reply(await Services(c).Inventory.FindSoftwareAsync(name, host, c.RequestAborted))).Op(DistOperations.GetInventory).Produces<IReadOnlyList<DistSoftware>>();
        api.MapGet(AdminApiPaths.Managers, async (HttpContext c, CancellationToken _) =>
            Reply(await Services(c).Managers.ListAsync(c.RequestAborted))).Op(DistOperations.GetManager).Produces<IReadOnlyList<DistManagerInfo>>();
        api.MapGet(AdminApiPaths.SigningKeys, async (HttpContext c, CancellationToken _) =>
            Reply(await Services(c).SigningKeys.ListAsync(c.RequestAborted))).Op(DistOperations.GetSigningKey).Produces<IReadOnlyList<DistSigningKey>>();
        api.MapPost(AdminApiPaths.SigningKeyRotation, (HttpContext c, CancellationToken _) => WithBody<AdminRotation>(c, "a rotation (JSON with gracePeriod)",
            async body => await Services(c).SigningKeys.RotateAsync(body.GracePeriod, c.RequestAborted))).Op(DistOperations.UpdateSigningKey)
            .Accepts<AdminRotation>("application/json").Produces<IReadOnlyList<DistSigningKey>>();
        api.MapPost(AdminApiPaths.AccessKeys, (HttpContext c, CancellationToken _) => WithBody<NewAccessKeyRequest>(c, "an access key request (JSON with name and role)",
            async request => await Services(c).AccessKeys.CreateAsync(request, c.RequestAborted))).Op(DistOperations.NewAccessKey)
            .Accepts<NewAccessKeyRequest>("application/json").Produces<DistAccessKey>();
        api.MapGet(AdminApiPaths.AccessKeys, async (HttpContext c, string? name) =>
            Reply(await Services(c).AccessKeys.ListAsync(name, c.RequestAborted))).Op(DistOperations.GetAccessKey).Produces<IReadOnlyList<DistAccessKey>>();
        api.MapDelete(AdminApiPaths.AccessKey, async (HttpContext c, string name) =>
        {
            await Services(c).AccessKeys.RemoveAsync(name, c.RequestAborted);
            return Results.NoContent();
        }).Op(DistOperations.RemoveAccessKey);
        api.MapGet(AdminApiPaths.AuditLog, async (HttpContext c, string? since, string? principal, string? operation, string? target, int? first) =>
            Reply(await Services(c).Audit.ListAsync(new AuditQuery(ParseTime(since, "since"), principal, operation, target, first ?? AuditQuery.DefaultFirst), c.RequestAborted)))
            .Op(DistOperations.GetAuditLog).Produces<IReadOnlyList<DistAuditEntry>>();

        // Offline media.
        api.MapPost(AdminApiPaths.OfflineMedia, (HttpContext c, CancellationToken _) => WithBody<AdminOfflineExport>(c, "offline media (JSON with job and hostName)",
            async body => await Services(c).Offline.ExportAsync(body.Job, body.HostName, c.RequestAborted))).Op(DistOperations.ExportOfflineMedia)
            .Accepts<AdminOfflineExport>("application/json").Produces<DistOfflineMedia>();
        api.MapGet(AdminApiPaths.OfflineContent, async (HttpContext c, Guid id, string sha256, ConnectionBudget budget) =>
        {
            // A content file, as agents' downloads: opened only while the descriptors the node keeps for itself are free.
            using var file = budget.TryOpenFile();
            if (file is null)
            {
                return AgentApi.RetryLater(c, AgentApi.ContentBusyId, "The manager has too few files and sockets free to open content now; try again later.");
            }
            await Results.Stream(await Services(c).Offline.OpenContentAsync(id, sha256, c.RequestAborted), "application/octet-stream").ExecuteAsync(c);
            return Results.Empty;
        })
            .Op(DistOperations.ExportOfflineMedia).Produces<byte[]>(200, "application/octet-stream");
        api.MapPost(AdminApiPaths.OfflineResults, (HttpContext c, CancellationToken _) => WithBody<OfflineResultUpload>(c, "an offline result (JSON with result and signature)",
            async body => await Services(c).Offline.ImportResultAsync(body, c.RequestAborted), OfflineMediaFiles.MaxJsonBytes)).Op(DistOperations.ImportOfflineResult)
            .Accepts<OfflineResultUpload>("application/json").Produces<DistJobStatus>();
        return app;
    }

    private static void MapControl(RouteGroupBuilder api, string pattern, JobControlAction action, string operation) =>
        api.MapPost(pattern, (HttpContext c, string name) => WithBody<AdminMembers>(c, "the hosts (JSON with hosts, or {})",
            async body => await Services(c).Jobs.ControlAsync(name, body.Hosts, action, c.RequestAborted))).Op(operation)
            .Accepts<AdminMembers>("application/json").Produces<IReadOnlyList<DistJobStatus>>();

    private static RouteHandlerBuilder Op(this RouteHandlerBuilder endpoint, string operation) =>
        endpoint.WithMetadata(new AdminOperation(operation)).WithSummary(operation);

    /// <summary>The engine acting for this request's caller (the key check in <see cref="UseAdminApi"/> put it there).</summary>
    private static DistEngine Services(HttpContext context) =>
        context.Features.Get<AdminCall>()?.Services ?? throw new InvalidOperationException("An admin endpoint ran without the access key check in front of it.");

    private static IResult Reply<T>(T value) => Results.Json(value, ProtocolJson.Options);

    /// <summary>Reads the body with the agent API's limit and rules (a missing required member is malformed), then answers what the work returns.</summary>
    private static async Task<IResult> WithBody<T>(HttpContext context, string shape, Func<T, Task<object>> work, long maxBytes = ProtocolLimits.MaxBodyBytes)
        where T : class
    {
        var (body, refusal) = await AgentApi.ReadBodyAsync<T>(context, maxBytes, _ => null, $"The body is not {shape}.", ProtocolJson.Strict);
        return body is null ? refusal : Reply(await work(body));
    }

    private static List<TargetStatus>? ParseStatuses(string[]? statuses) => statuses is not { Length: > 0 } ? null
        : statuses.Select(s => Enum.TryParse<TargetStatus>(s, ignoreCase: true, out var status) && !int.TryParse(s, out _) ? status
            : throw new DistException("TargetStatusInvalid", DistErrorKind.InvalidArgument, $"'{s}' is not a target status ({string.Join(", ", Enum.GetNames<TargetStatus>())}).", s)).ToList();

    private static DateTime? ParseTime(string? text, string field) => text is null ? null
        : DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var time) ? time
        : throw new DistException("RequestFieldInvalid", DistErrorKind.InvalidArgument, $"'{text}' in '{field}' is not a time (ISO 8601).", field);
}
