using System.Collections.Concurrent;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Serving;

/// <summary>
/// The endpoints a higher system (the manager or a relay: the same code, through <see cref="IHigherSystemNode"/>)
/// serves its lower clients and lower relays. Errors are problem-details bodies naming
/// what was wrong; nothing is changed by a request that is refused. Every body and query parameter is checked against
/// <see cref="ProtocolLimits"/> (<see cref="RequestValidator"/>) before the node sees it.
/// </summary>
public static class AgentApi
{
    private static readonly ConcurrentDictionary<Guid, DateTime> LastTouched = new();

    /// <summary>Maps the agent API onto an application; <paramref name="maxPollWait"/> bounds a long poll.</summary>
    public static IEndpointRouteBuilder MapAgentApi(this IEndpointRouteBuilder app, TimeSpan maxPollWait)
    {
        app.MapGet(ApiPaths.Ping, () => Results.Ok(new { status = "ok" }));

        app.MapPost(ApiPaths.Register, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth, ILoggerFactory logs) =>
        {
            var (request, refusal) = await ReadBodyAsync<RegisterRequest>(context, ProtocolLimits.MaxBodyBytes, RequestValidator.Check,
                "The body is not a registration request (JSON with token and name).");
            if (request is null)
            {
                return refusal;
            }
            var response = await RegisterLoggedAsync(context, node, request, null, logs);
            auth.Forget(response.HostId);
            return Results.Ok(response);
        });

        app.MapPost(ApiPaths.Facts, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth) =>
        {
            if (await auth.AuthenticateAsync(context) is not { } hostId)
            {
                return Unauthorized();
            }
            var (facts, refusal) = await ReadBodyAsync<FactsReport>(context, ProtocolLimits.MaxBodyBytes, RequestValidator.Check,
                "The body is not a facts report (JSON with os, osVersion, architecture, addresses and inventory).");
            if (facts is null)
            {
                return refusal;
            }
            var changed = await node.ReportFactsAsync(hostId, facts, context.RequestAborted);
            return Results.Ok(new { changed });
        });

        app.MapGet(ApiPaths.Work, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth, NodeMetrics metrics, string? wait) =>
        {
            if (await auth.AuthenticateAsync(context) is not { } hostId)
            {
                return Unauthorized();
            }
            if (RequestValidator.CheckWait(wait, out var asked) is { } problem)
            {
                return Refused(problem);
            }
            await TouchAsync(node, hostId);
            var seconds = Math.Min(asked, (int)maxPollWait.TotalSeconds);
            metrics.ConnectedAgents.Inc();
            try
            {
                var work = await node.WaitForWorkAsync(hostId, TimeSpan.FromSeconds(seconds), context.RequestAborted);
                // After the wait: an announcement made meanwhile goes with this answer.
                return Results.Ok(work with { SigningKeys = node.SigningKeyAnnouncements() is { Count: > 0 } announced ? announced : null });
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return Results.Empty;
            }
            finally
            {
                metrics.ConnectedAgents.Dec();
            }
        });

        app.MapPost(ApiPaths.Report, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth) =>
        {
            if (await auth.AuthenticateAsync(context) is not { } hostId)
            {
                return Unauthorized();
            }
            var (report, refusal) = await ReadBodyAsync<ReportRequest>(context, ProtocolLimits.MaxReportBodyBytes, RequestValidator.Check,
                "The body is not a report (JSON with workItemId and status).");
            if (report is null)
            {
                return refusal;
            }
            await TouchAsync(node, hostId);
            return Results.Ok(await node.ReportAsync(hostId, report, context.RequestAborted));
        });

        app.MapGet(ApiPaths.ContentPrefix + "{sha256}", async (HttpContext context, string sha256, IHigherSystemNode node, AgentAuthentication auth, NodeMetrics metrics,
            ConnectionBudget budget) =>
        {
            if (await auth.AuthenticateAsync(context) is null)
            {
                return Unauthorized();
            }
            if (!ContentHash.IsHash(sha256))
            {
                return Problem(400, "ContentHashInvalid", "The path does not end in a SHA-256 hash (64 hex digits).");
            }
            // The file's descriptor, before a relay's fetch from its higher system opens more: refused while too few are free.
            using var file = budget.TryOpenFile();
            if (file is null)
            {
                return RetryLater(context, ContentBusyId, "This node has too few files and sockets free to open content now; try again later (the transfer resumes).");
            }
            if (await node.GetContentPathAsync(sha256, context.RequestAborted) is not { } path)
            {
                return Problem(404, "ContentNotFound", $"No content with hash {sha256} is stored here.");
            }
            // Counted as written: a transfer cut short counts what went out, not the range it asked for.
            await CountedResponseBody.ExecuteAsync(context, Results.File(path, "application/octet-stream", enableRangeProcessing: true),
                sent => metrics.ContentBytesServed.Inc(sent));
            return Results.Empty;
        });

        app.MapPost(ApiPaths.RelayRegister, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth, ILoggerFactory logs) =>
        {
            var (relayId, refusal) = await AuthenticateRelayAsync(context, node, auth);
            if (refusal is not null)
            {
                return refusal;
            }
            var (request, bodyRefusal) = await ReadBodyAsync<RelayRegisterRequest>(context, ProtocolLimits.MaxBodyBytes, RequestValidator.Check,
                "The body is not a relay registration (JSON with registration and parentHostId).");
            if (request is null)
            {
                return bodyRefusal;
            }
            if (!await node.IsAtOrBelowAsync(request.ParentHostId, relayId, context.RequestAborted))
            {
                return Problem(403, "HostNotBelowRelay", $"Host {request.ParentHostId} is not this relay or below it; a relay registers only its own lower clients.");
            }
            var response = await RegisterLoggedAsync(context, node, request.Registration, request.ParentHostId, logs);
            auth.Forget(response.HostId);
            return Results.Ok(response);
        });

        app.MapGet(ApiPaths.RelayWork, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth, NodeMetrics metrics, string? wait, string? etag) =>
        {
            var (relayId, refusal) = await AuthenticateRelayAsync(context, node, auth);
            if (refusal is not null)
            {
                return refusal;
            }
            if ((RequestValidator.CheckWait(wait, out var asked) ?? RequestValidator.CheckEtag(etag)) is { } problem)
            {
                return Refused(problem);
            }
            await TouchAsync(node, relayId);
            var seconds = Math.Min(asked, (int)maxPollWait.TotalSeconds);
            try
            {
                return Results.Ok(await node.WaitForRelayWorkAsync(relayId, TimeSpan.FromSeconds(seconds), etag, context.RequestAborted));
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return Results.Empty;
            }
        });

        app.MapPost(ApiPaths.RelayBatch, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth) =>
        {
            var (relayId, refusal) = await AuthenticateRelayAsync(context, node, auth);
            if (refusal is not null)
            {
                return refusal;
            }
            // The batch as a whole here; each entry on its own in RelayBatches, so one bad entry does not hold up the rest.
            var (batch, bodyRefusal) = await ReadBodyAsync<RelayBatch>(context, ProtocolLimits.MaxBodyBytes, RequestValidator.Check,
                "The body is not a relay batch (JSON with entries).");
            if (batch is null)
            {
                return bodyRefusal;
            }
            await TouchAsync(node, relayId);
            return Results.Ok(await node.ApplyRelayBatchAsync(relayId, batch, context.RequestAborted));
        });

        app.MapPost(ApiPaths.RelayCertificate, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth) =>
        {
            var (relayId, refusal) = await AuthenticateRelayAsync(context, node, auth);
            if (refusal is not null)
            {
                return refusal;
            }
            var (request, bodyRefusal) = await ReadBodyAsync<RelayCertificateRequest>(context, ProtocolLimits.MaxCertificateRequestBodyBytes, RequestValidator.Check,
                "The body is not a relay certificate request (JSON with signingRequest, dnsNames and ipAddresses).");
            if (request is null)
            {
                return bodyRefusal;
            }
            // A relay asks for itself, or passes up the request of a relay below it; never for another host.
            var target = request.HostId ?? relayId;
            if (target != relayId && (!await node.IsAtOrBelowAsync(target, relayId, context.RequestAborted) || !await node.IsRelayAsync(target, context.RequestAborted)))
            {
                return Problem(403, "HostNotBelowRelay", $"Host {target} is not a relay below this relay; a relay asks for certificates of its own and of the relays below it only.");
            }
            return Results.Ok(await node.IssueRelayCertificateAsync(target, request with { HostId = target }, context.RequestAborted));
        });
        return app;
    }

    /// <summary>
    /// Registers, and logs a refused registration with the name it asked for and where it came from (an attempt to take
    /// over an enrolled name, a token that is unknown, expired, used up or for the other kind of host).
    /// </summary>
    private static async Task<RegisterResponse> RegisterLoggedAsync(HttpContext context, IHigherSystemNode node, RegisterRequest request, Guid? parent, ILoggerFactory logs)
    {
        try
        {
            return await node.RegisterAsync(request, parent, context.RequestAborted);
        }
        catch (DistException e)
        {
            logs.CreateLogger("JP1Dist.Registration").LogWarning("Registration of {Name} from {Address}{Via} refused: {ErrorId}: {Message}",
                request.Name, context.Connection.RemoteIpAddress, parent is { } p ? $" (through a relay, below {p})" : "", e.ErrorId, e.Message);
            throw;
        }
    }

    /// <summary>The calling relay; or a refusal: 401 without a valid credential, 403 for a host that is not a relay.</summary>
    private static async Task<(Guid RelayId, IResult? Refusal)> AuthenticateRelayAsync(HttpContext context, IHigherSystemNode node, AgentAuthentication auth)
    {
        if (await auth.AuthenticateAsync(context) is not { } hostId)
        {
            return (Guid.Empty, Unauthorized());
        }
        return await node.IsRelayAsync(hostId, context.RequestAborted)
            ? (hostId, null)
            : (hostId, Problem(403, "HostNotRelay", "Only a host registered as a relay may use the relay endpoints."));
    }

    /// <summary>The error id of a 503 for content while the node has too few descriptors free to open a file (<see cref="ConnectionBudget.TryOpenFile"/>).</summary>
    public const string ContentBusyId = "ContentBusy";

    /// <summary>The error id of a 503 for a fault of the serving node's own storage (a full disk, a denied path).</summary>
    public const string StorageFaultId = "StorageFault";

    /// <summary>Turns engine errors into problem details, so a bad request never crashes the server.</summary>
    public static IApplicationBuilder UseDistProblemDetails(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (DistException e) when (!context.Response.HasStarted)
        {
            var status = e.Kind switch
            {
                DistErrorKind.NotFound => 404,
                DistErrorKind.AlreadyExists or DistErrorKind.InvalidOperation => 409,
                DistErrorKind.Unauthorized => 401,
                DistErrorKind.NotAvailable => 503,
                DistErrorKind.Forbidden => 403,
                _ => 400,
            };
            if (status == 401)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
            }
            await Problem(e, status).ExecuteAsync(context);
        }
        catch (JP1Dist.Agent.LocalFaultException e) when (!context.Response.HasStarted)
        {
            // This node's own storage (a relay's cache or store on a full disk): the client is not at fault and asks again
            // later; the node says what it is, and keeps serving everything else.
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("JP1Dist.Serving")
                .LogError("{Path} could not be answered: {Kind}: {Message}", context.Request.Path.Value, e.Fault.Kind, e.Message);
            await Problem(503, StorageFaultId, $"This node cannot do what the request needs now: {e.Message} Try again later.").ExecuteAsync(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException && Core.Storage.StorageErrors.IsUnavailable(e))
        {
            // The database cannot do it now (no connection left, busy, refusing more): the client is not at fault and comes
            // back after its back-off; one line now and then, not a stack trace per request.
            context.RequestServices.GetRequiredService<DatabaseBusy>().Refused(context.Request.Path.Value, e);
            await RetryLater(context, DatabaseBusy.ErrorId, "This node's database cannot do what the request needs now; try again later.").ExecuteAsync(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            // 413 when a body is larger than its endpoint allows (ReadBodyAsync sets the limit).
            var errorId = e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "RequestBodyTooLarge" : "BadRequest";
            await Problem(e.StatusCode, errorId, e.Message).ExecuteAsync(context);
        }
    });

    /// <summary>
    /// How often a host's last-seen time is noted while it keeps polling (Get-DistHost's LastSeen is this fresh). At every
    /// poll, the writes were a fifth of what 10,000 idle agents cost the manager; the manager writes the times it notes
    /// together once a second (<c>Manager/LastSeenRecorder</c>), a relay sends them up with its batches.
    /// </summary>
    public static readonly TimeSpan LastSeenResolution = TimeSpan.FromMinutes(2);

    private static async Task TouchAsync(IHigherSystemNode node, Guid hostId)
    {
        var now = DateTime.UtcNow;
        if (LastTouched.TryGetValue(hostId, out var last) && now - last < LastSeenResolution)
        {
            return;
        }
        LastTouched[hostId] = now;
        await node.TouchAsync(hostId);
    }

    /// <summary>
    /// Reads a body of at most <paramref name="maxBytes"/> and checks it: the body, or the refusal to answer with
    /// (RequestBodyInvalid when it is not that JSON, RequestFieldInvalid naming the field that breaks a limit). A larger
    /// body ends in a 413 from the server (<see cref="UseDistProblemDetails"/>).
    /// </summary>
    internal static async Task<(T? Body, IResult Refusal)> ReadBodyAsync<T>(HttpContext context, long maxBytes, Func<T, FieldProblem?> check, string shape,
        JsonSerializerOptions? options = null)
        where T : class
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }
        T? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<T>(context.Request.Body, options ?? ProtocolJson.Options, context.RequestAborted);
        }
        catch (JsonException e)
        {
            // The path of a value of the wrong type or form, when the reader knows it ("$.inventory.cpuCount").
            var field = e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;
            return (null, Problem(400, "RequestBodyInvalid", field is null ? shape : $"{shape} The value at '{field}' cannot be read.", field));
        }
        if (body is null)
        {
            return (null, Problem(400, "RequestBodyInvalid", shape));
        }
        return check(body) is { } problem ? (null, Refused(problem)) : (body, Results.Empty);
    }

    /// <summary>A request refused because a field breaks a limit: 400, RequestFieldInvalid, the field and the limit.</summary>
    private static IResult Refused(FieldProblem problem) => Results.Problem(detail: problem.Message, statusCode: 400, title: RequestValidator.ErrorId,
        extensions: new Dictionary<string, object?> { ["errorId"] = RequestValidator.ErrorId, ["field"] = problem.Field, ["limit"] = problem.Limit });

    private static IResult Unauthorized() => Problem(401, "CredentialInvalid", "The request carries no valid agent credential; register again with an enrollment token.");

    /// <summary>
    /// The problem details of an engine error: its error id, its kind and its target (as text) besides the message, so that a
    /// client (a session connected to the manager) throws the same <see cref="DistException"/> the engine threw.
    /// </summary>
    public static IResult Problem(DistException e, int status) => Results.Problem(detail: e.Message, statusCode: status, title: e.ErrorId,
        extensions: new Dictionary<string, object?>
        {
            ["errorId"] = e.ErrorId,
            ["kind"] = e.Kind.ToString(),
            ["target"] = e.Target is null ? null : Convert.ToString(e.Target, System.Globalization.CultureInfo.InvariantCulture),
        });

    /// <summary>
    /// A 503 for something this node is short of now (descriptors for content, its database): the problem with its error
    /// id, and Retry-After so that the client comes back after a few seconds (agents and relays back off with jitter beside it).
    /// </summary>
    public static IResult RetryLater(HttpContext context, string errorId, string detail)
    {
        context.Response.Headers.RetryAfter = "5";
        return Problem(503, errorId, detail);
    }

    /// <summary>A problem-details result with a stable error id, and the field it concerns when one is known.</summary>
    public static IResult Problem(int status, string errorId, string detail, string? field = null)
    {
        var extensions = new Dictionary<string, object?> { ["errorId"] = errorId };
        if (field is not null)
        {
            extensions["field"] = field;
        }
        return Results.Problem(detail: detail, statusCode: status, title: errorId, extensions: extensions);
    }
}
