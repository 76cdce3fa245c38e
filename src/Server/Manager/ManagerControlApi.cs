using JP1Dist.Core.Distribution;
using JP1Dist.Core.Managers;
using JP1Dist.Protocol.Security;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace JP1Dist.Server.Manager;

/// <summary>The manager's own loopback endpoints: a cmdlet's nudge, and the clean stop asked by the session that started it.</summary>
public static class ManagerControlApi
{
    public static IEndpointRouteBuilder MapManagerControl(this IEndpointRouteBuilder app)
    {
        app.MapPost(Protocol.ApiPaths.Nudge, async (HttpContext context, IntentSweeper sweeper, HostSignals signals, CredentialWatch credentials, Core.DistEngine engine) =>
        {
            // Only a local cmdlet may nudge; the nudge carries no data and is never needed for correctness.
            if (context.Connection.RemoteIpAddress is not { } address || !System.Net.IPAddress.IsLoopback(address))
            {
                return AgentApi.Problem(403, "NudgeNotLocal", "Only a process on the manager's own computer may nudge it.");
            }
            sweeper.Nudge();
            engine.SigningKeys.Forget(); // a rotation by the cmdlet signs from this manager's next answer
            // Before the cmdlet goes on: a credential it revoked is refused from the next request. Should this look fail, the
            // watch's own loop looks again within a sweep interval.
            try
            {
                await credentials.CheckAsync(context.RequestAborted);
            }
            catch (Exception e) when (e is System.Data.Common.DbException or OperationCanceledException)
            {
            }
            // Resumed targets are served on the next look, not after the poll's timeout; an execution's hosts are woken by its
            // dispatch instead, so a nudge for one leaves the polls waiting (with 10,000 agents, each would look and answer empty).
            if (context.Request.QueryString.Value?.TrimStart('?') != Protocol.ApiPaths.NudgeKeepPollsQuery)
            {
                signals.NotifyAll();
            }
            engine.TargetChanges.Notify(); // a cmdlet elsewhere changed targets: Wait-DistJob through the admin API looks again
            return Results.Accepted();
        });
        app.MapPost(Protocol.ApiPaths.Shutdown, (HttpContext context, ManagerOptions options, IHostApplicationLifetime lifetime) =>
        {
            var presented = context.Request.Headers[Protocol.ApiPaths.ShutdownHeader].ToString();
            if (options.ShutdownSecret is not { Length: > 0 } secret || context.Connection.RemoteIpAddress is not { } address
                || !System.Net.IPAddress.IsLoopback(address) || !Secrets.Matches(presented, Secrets.Hash(secret)))
            {
                return AgentApi.Problem(403, "ShutdownRefused", "Only the process that started this manager may stop it this way.");
            }
            lifetime.StopApplication();
            return Results.Accepted();
        });
        return app;
    }
}
