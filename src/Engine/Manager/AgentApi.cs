using System.Collections.Concurrent;
using System.Text.Json;
using JP1Dist.Engine.Distribution;
using JP1Dist.Engine.Domain;
using JP1Dist.Engine.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace JP1Dist.Engine.Manager;

/// <summary>
/// The endpoints a higher system serves its lower clients. Errors are problem-details bodies naming
/// what was wrong; nothing is changed by a request that is refused.
/// </summary>
public static class AgentApi
{
    private static readonly ConcurrentDictionary<Guid, DateTime> LastTouched = new();

    /// <summary>Maps the agent API onto an application.</summary>
    public static IEndpointRouteBuilder MapAgentApi(this IEndpointRouteBuilder app)
    {
        app.MapGet(ApiPaths.Ping, () => Results.Ok(new { status = "ok" }));

        app.MapPost(ApiPaths.Register, async (HttpContext context, DistEngine engine, AgentAuthentication auth) =>
        {
            var request = await ReadBodyAsync<RegisterRequest>(context);
            if (request is null)
            {
                return Problem(400, "RequestBodyInvalid", "The body is not a registration request (JSON with token and name).");
            }
            var response = await engine.Hosts.RegisterAsync(request, null, context.RequestAborted);
            auth.Forget(response.HostId);
            return Results.Ok(response);
        });

        app.MapPost(ApiPaths.Facts, async (HttpContext context, DistEngine engine, AgentAuthentication auth) =>
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
            var changed = await engine.Inventory.ReportFactsAsync(hostId, facts, context.RequestAborted);
            return Results.Ok(new { changed });
        });

        app.MapGet(ApiPaths.Work, async (HttpContext context, DistributionService distribution, AgentAuthentication auth, ManagerOptions options, NodeMetrics metrics, int? wait) =>
        {
            if (await auth.AuthenticateAsync(context) is not { } hostId)
            {
                return Unauthorized();
            }
            await TouchAsync(distribution, hostId);
            var seconds = Math.Clamp(wait ?? 0, 0, (int)options.MaxPollWait.TotalSeconds);
            metrics.ConnectedAgents.Inc();
            try
            {
                var items = await distribution.WaitForWorkAsync(hostId, TimeSpan.FromSeconds(seconds), context.RequestAborted);
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

        app.MapPost(ApiPaths.Report, async (HttpContext context, DistributionService distribution, AgentAuthentication auth) =>
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
            await TouchAsync(distribution, hostId);
            return Results.Ok(await distribution.ReportAsync(hostId, report, context.RequestAborted));
        });

        app.MapGet(ApiPaths.ContentPrefix + "{sha256}", async (HttpContext context, string sha256, DistEngine engine, AgentAuthentication auth, NodeMetrics metrics) =>
        {
            if (await auth.AuthenticateAsync(context) is null)
            {
                return Unauthorized();
            }
            if (!Storage.ContentStore.IsHash(sha256))
            {
                return Problem(400, "ContentHashInvalid", $"'{sha256}' is not a SHA-256 hash.");
            }
            if (!engine.Content.Contains(sha256))
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
            return Results.File(engine.Content.PathOf(sha256), "application/octet-stream", enableRangeProcessing: true);
        });

        app.MapPost(ApiPaths.Nudge, (HttpContext context, IntentSweeper sweeper, HostSignals signals) =>
        {
            // Only a local cmdlet may nudge; the nudge carries no data and is never needed for correctness.
            if (context.Connection.RemoteIpAddress is not { } address || !System.Net.IPAddress.IsLoopback(address))
            {
                return Problem(403, "NudgeNotLocal", "Only a process on the manager's own computer may nudge it.");
            }
            sweeper.Nudge();
            signals.NotifyAll(); // resumed targets are served on the next look, not after the poll's timeout
            return Results.Accepted();
        });
        app.MapPost(ApiPaths.Shutdown, (HttpContext context, ManagerOptions options, Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime) =>
        {
            var presented = context.Request.Headers[ApiPaths.ShutdownHeader].ToString();
            if (options.ShutdownSecret is not { Length: > 0 } secret || context.Connection.RemoteIpAddress is not { } address
                || !System.Net.IPAddress.IsLoopback(address) || !Security.Secrets.Matches(presented, Security.Secrets.Hash(secret)))
            {
                return Problem(403, "ShutdownRefused", "Only the process that started this manager may stop it this way.");
            }
            lifetime.StopApplication();
            return Results.Accepted();
        });
        return app;
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

    private static async Task TouchAsync(DistributionService distribution, Guid hostId)
    {
        var now = DateTime.UtcNow;
        if (LastTouched.TryGetValue(hostId, out var last) && now - last < TimeSpan.FromSeconds(10))
        {
            return;
        }
        LastTouched[hostId] = now;
        await distribution.TouchHostAsync(hostId);
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
