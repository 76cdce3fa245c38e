using System.Collections.Concurrent;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace JP1Dist.Server.Serving;

/// <summary>
/// The endpoints a higher system (the manager or a relay: the same code, through <see cref="IHigherSystemNode"/>)
/// serves its lower clients and lower relays. Errors are problem-details bodies naming
/// what was wrong; nothing is changed by a request that is refused.
/// </summary>
public static class AgentApi
{
    private static readonly ConcurrentDictionary<Guid, DateTime> LastTouched = new();

    /// <summary>Maps the agent API onto an application; <paramref name="maxPollWait"/> bounds a long poll.</summary>
    public static IEndpointRouteBuilder MapAgentApi(this IEndpointRouteBuilder app, TimeSpan maxPollWait)
    {
        app.MapGet(ApiPaths.Ping, () => Results.Ok(new { status = "ok" }));

        app.MapPost(ApiPaths.Register, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth) =>
        {
            var request = await ReadBodyAsync<RegisterRequest>(context);
            if (request is null)
            {
                return Problem(400, "RequestBodyInvalid", "The body is not a registration request (JSON with token and name).");
            }
            var response = await node.RegisterAsync(request, null, context.RequestAborted);
            auth.Forget(response.HostId);
            return Results.Ok(response);
        });

        app.MapPost(ApiPaths.Facts, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth) =>
        {
            if (await auth.AuthenticateAsync(context) is not { } hostId)
            {
                return Unauthorized();
            }
            var facts = await ReadBodyAsync<FactsReport>(context);
            if (facts is null)
            {
                return Problem(400, "RequestBodyInvalid", "The body is not a facts report (JSON with os, osVersion, architecture, addresses and inventory).");
            }
            var changed = await node.ReportFactsAsync(hostId, facts, context.RequestAborted);
            return Results.Ok(new { changed });
        });

        app.MapGet(ApiPaths.Work, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth, NodeMetrics metrics, int? wait) =>
        {
            if (await auth.AuthenticateAsync(context) is not { } hostId)
            {
                return Unauthorized();
            }
            await TouchAsync(node, hostId);
            var seconds = Math.Clamp(wait ?? 0, 0, (int)maxPollWait.TotalSeconds);
            metrics.ConnectedAgents.Inc();
            try
            {
                var items = await node.WaitForWorkAsync(hostId, TimeSpan.FromSeconds(seconds), context.RequestAborted);
                return Results.Ok(new WorkResponse(items));
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
            var report = await ReadBodyAsync<ReportRequest>(context);
            if (report is null || report.WorkItemId == Guid.Empty || string.IsNullOrWhiteSpace(report.Status))
            {
                return Problem(400, "RequestBodyInvalid", "The body is not a report (JSON with workItemId and status).");
            }
            await TouchAsync(node, hostId);
            return Results.Ok(await node.ReportAsync(hostId, report, context.RequestAborted));
        });

        app.MapGet(ApiPaths.ContentPrefix + "{sha256}", async (HttpContext context, string sha256, IHigherSystemNode node, AgentAuthentication auth, NodeMetrics metrics) =>
        {
            if (await auth.AuthenticateAsync(context) is null)
            {
                return Unauthorized();
            }
            if (!ContentHash.IsHash(sha256))
            {
                return Problem(400, "ContentHashInvalid", "The path does not end in a SHA-256 hash (64 hex digits).");
            }
            if (await node.GetContentPathAsync(sha256, context.RequestAborted) is not { } path)
            {
                return Problem(404, "ContentNotFound", $"No content with hash {sha256} is stored here.");
            }
            context.Response.OnCompleted(() =>
            {
                // The length Kestrel sent: the requested range, or the whole file.
                if (context.Response.StatusCode is 200 or 206 && context.Response.ContentLength is { } sent)
                {
                    metrics.ContentBytesServed.Inc(sent);
                }
                return Task.CompletedTask;
            });
            return Results.File(path, "application/octet-stream", enableRangeProcessing: true);
        });

        app.MapPost(ApiPaths.RelayRegister, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth) =>
        {
            var (relayId, refusal) = await AuthenticateRelayAsync(context, node, auth);
            if (refusal is not null)
            {
                return refusal;
            }
            var request = await ReadBodyAsync<RelayRegisterRequest>(context);
            if (request?.Registration is null || request.ParentHostId == Guid.Empty)
            {
                return Problem(400, "RequestBodyInvalid", "The body is not a relay registration (JSON with registration and parentHostId).");
            }
            if (!await node.IsAtOrBelowAsync(request.ParentHostId, relayId, context.RequestAborted))
            {
                return Problem(403, "HostNotBelowRelay", $"Host {request.ParentHostId} is not this relay or below it; a relay registers only its own lower clients.");
            }
            var response = await node.RegisterAsync(request.Registration, request.ParentHostId, context.RequestAborted);
            auth.Forget(response.HostId);
            return Results.Ok(response);
        });

        app.MapGet(ApiPaths.RelayWork, async (HttpContext context, IHigherSystemNode node, AgentAuthentication auth, NodeMetrics metrics, int? wait, string? etag) =>
        {
            var (relayId, refusal) = await AuthenticateRelayAsync(context, node, auth);
            if (refusal is not null)
            {
                return refusal;
            }
            await TouchAsync(node, relayId);
            var seconds = Math.Clamp(wait ?? 0, 0, (int)maxPollWait.TotalSeconds);
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
            var batch = await ReadBodyAsync<RelayBatch>(context);
            if (batch?.Entries is null || batch.Entries.Any(e => e is null))
            {
                return Problem(400, "RequestBodyInvalid", "The body is not a relay batch (JSON with entries).");
            }
            if (batch.Entries.Count > RelayBatches.MaxEntries)
            {
                return Problem(400, "RelayBatchTooLarge", $"A batch carries at most {RelayBatches.MaxEntries} entries; this one has {batch.Entries.Count}.");
            }
            await TouchAsync(node, relayId);
            return Results.Ok(await node.ApplyRelayBatchAsync(relayId, batch, context.RequestAborted));
        });
        return app;
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
                _ => 400,
            };
            await Problem(status, e.ErrorId, e.Message).ExecuteAsync(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            await Problem(e.StatusCode, "BadRequest", e.Message).ExecuteAsync(context);
        }
    });

    private static async Task TouchAsync(IHigherSystemNode node, Guid hostId)
    {
        var now = DateTime.UtcNow;
        if (LastTouched.TryGetValue(hostId, out var last) && now - last < TimeSpan.FromSeconds(10))
        {
            return;
        }
        LastTouched[hostId] = now;
        await node.TouchAsync(hostId);
    }

    private static async Task<T?> ReadBodyAsync<T>(HttpContext context) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(context.Request.Body, ProtocolJson.Options, context.RequestAborted);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static IResult Unauthorized() => Problem(401, "CredentialInvalid", "The request carries no valid agent credential; register again with an enrollment token.");

    /// <summary>A problem-details result with a stable error id.</summary>
    public static IResult Problem(int status, string errorId, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: errorId, extensions: new Dictionary<string, object?> { ["errorId"] = errorId });
}
