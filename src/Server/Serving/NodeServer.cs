using JP1Dist.Core.Distribution;
using JP1Dist.Protocol;
using JP1Dist.Server.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Prometheus;
using Serilog;

namespace JP1Dist.Server.Serving;

/// <summary>
/// What every node that serves lower clients (the manager, a relay) sets up the same way: Kestrel on its address,
/// Serilog, service-manager integration, the agent API over its <see cref="IHigherSystemNode"/>, and GET /metrics.
/// </summary>
public static class NodeServer
{
    /// <summary>A builder for a node: logs as <paramref name="role"/> in <paramref name="logsFolder"/>, listens on <paramref name="listenUrl"/>.</summary>
    public static WebApplicationBuilder CreateBuilder(string role, string serviceName, string contentRoot, string logsFolder, string listenUrl, bool quietConsole, string[]? args)
    {
        // The content root is the node's data folder, where the database, logs and packages change all the time, and a
        // node reads no appsettings.json: do not watch it (one inotify instance per node, events for every write).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false", .. args ?? []],
            ContentRootPath = contentRoot,
        });
        builder.Services.AddSerilog(DistLogging.Create(logsFolder, role, quietConsole), dispose: true);
        builder.WebHost.UseUrls(listenUrl);
        // Every endpoint that reads a body sets its own cap (AgentApi); this is the one for all the others.
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = ProtocolLimits.MaxBodyBytes);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(15));
        // Each is a no-op unless the process runs under systemd (Type=notify) or the Windows service manager.
        builder.Services.AddSystemd();
        builder.Services.AddWindowsService(service => service.ServiceName = serviceName);
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton<HostSignals>();
        builder.Services.AddSingleton<AgentAuthentication>();
        builder.Services.AddSingleton<NodeMetrics>();
        return builder;
    }

    /// <summary>The node's pipeline: problem details, request metrics, the agent API and GET /metrics.</summary>
    public static WebApplication MapNode(this WebApplication app, TimeSpan maxPollWait)
    {
        var metrics = app.Services.GetRequiredService<NodeMetrics>();
        app.UseDistProblemDetails();
        app.UseRouting();
        app.UseHttpMetrics(http => http.SetMetricFactory(Metrics.WithCustomRegistry(metrics.Registry)));
        app.MapAgentApi(maxPollWait);
        app.MapMetrics("/metrics", metrics.Registry);
        return app;
    }
}
