using System.Security.Authentication;
using JP1Dist.Core.Distribution;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;
using JP1Dist.Server.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace JP1Dist.Server.Serving;

/// <summary>
/// What every node that serves lower clients (the manager, a relay) sets up the same way: Kestrel on its address,
/// Serilog, service-manager integration, the agent API over its <see cref="IHigherSystemNode"/>, and GET /metrics.
/// </summary>
public static class NodeServer
{
    /// <summary>
    /// Checks a listen address before anything is created or bound: an http(s) URL, and plain HTTP only on loopback unless
    /// allowed (ListenUrlInvalid, ListenUrlInsecure). For https, the certificate to serve (the administrator's, else the
    /// node's own in <paramref name="certificateFolder"/>, created on first start); null for http.
    /// </summary>
    public static ServedCertificate PrepareListener(string role, string listenUrl, NodeTlsOptions tls, string certificateFolder)
    {
        if (!Uri.TryCreate(listenUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new DistException("ListenUrlInvalid", DistErrorKind.InvalidArgument, $"jp1dist {role}: '{listenUrl}' is not an http:// or https:// URL to listen on.", listenUrl);
        }
        if (PlainHttp.ListenRefusal(role, uri, tls.AllowInsecureHttp) is { } refusal)
        {
            throw new DistException("ListenUrlInsecure", DistErrorKind.InvalidArgument, refusal, listenUrl);
        }
        return new ServedCertificate(uri.Scheme == Uri.UriSchemeHttps ? NodeCertificate.Load(tls, certificateFolder, uri, role) : null);
    }

    /// <summary>A builder for a node: logs as <paramref name="role"/> in <paramref name="logsFolder"/>, listens on <paramref name="listenUrl"/>.</summary>
    public static WebApplicationBuilder CreateBuilder(string role, string serviceName, string contentRoot, string logsFolder, string listenUrl, bool quietConsole, string[]? args,
        ServedCertificate? served = null, int? maxConnections = null)
    {
        // The content root is the node's data folder, where the database, logs and packages change all the time, and a
        // node reads no appsettings.json: do not watch it (one inotify instance per node, events for every write).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false", .. args ?? []],
            ContentRootPath = contentRoot,
        });
        builder.WebHost.UseUrls(listenUrl);
        // The slim builder leaves out Kestrel's https:// address support; a node serving TLS needs it back.
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k =>
        {
            // Every endpoint that reads a body sets its own cap (AgentApi); this is the one for all the others.
            k.Limits.MaxRequestBodySize = ProtocolLimits.MaxBodyBytes;
            // Connections beyond the node's budget are closed before TLS or HTTP costs anything (ConnectionBudget).
            k.ConfigureEndpointDefaults(endpoint => endpoint.Use(next =>
            {
                var budget = k.ApplicationServices.GetRequiredService<ConnectionBudget>();
                return async connection =>
                {
                    if (!budget.TryEnter(connection.RemoteEndPoint?.ToString()))
                    {
                        connection.Abort();
                        return;
                    }
                    try
                    {
                        await next(connection);
                    }
                    finally
                    {
                        budget.Leave();
                    }
                };
            }));
            if (served?.Certificate is { } certificate)
            {
                k.ConfigureHttpsDefaults(https =>
                {
                    https.ServerCertificate = certificate;
                    https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
                    // A relay switches to the certificate the manager issued (with its issuer in the chain) without a restart.
                    https.OnAuthenticate = (_, ssl) =>
                    {
                        if (served.Context is { } issued)
                        {
                            ssl.ServerCertificateContext = issued;
                        }
                    };
                });
            }
        });
        builder.Services.AddSingleton(served ?? new ServedCertificate(null));
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(15));
        // Each is a no-op unless the process runs under systemd (Type=notify) or the Windows service manager.
        builder.Services.AddSystemd();
        builder.Services.AddWindowsService(service => service.ServiceName = serviceName);
        // After the service integrations, which add the Windows Event Log's provider when the node runs as a service.
        builder.Logging.UseSerilogOnly(DistLogging.Create(logsFolder, role, quietConsole), dispose: true);
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton<HostSignals>();
        builder.Services.AddSingleton<AgentAuthentication>();
        builder.Services.AddSingleton<NodeMetrics>();
        builder.Services.AddSingleton(sp => new DatabaseBusy(sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(sp => ConnectionBudget.Create(maxConnections, sp.GetRequiredService<ILoggerFactory>().CreateLogger("JP1Dist.Connections")));
        return builder;
    }

    /// <summary>Logs a warning for each address that plain HTTP reaches beyond loopback (allowed with --allow-insecure-http).</summary>
    public static WebApplication WarnIfInsecure(this WebApplication app, params string[] urls)
    {
        foreach (var url in urls)
        {
            if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && PlainHttp.IsInsecure(uri))
            {
                app.Logger.LogWarning("{Warning}", PlainHttp.Warning(uri));
            }
        }
        return app;
    }

    /// <summary>The node's pipeline: problem details, request metrics, the agent API and GET /metrics.</summary>
    public static WebApplication MapNode(this WebApplication app, TimeSpan maxPollWait)
    {
        var metrics = app.Services.GetRequiredService<NodeMetrics>();
        app.UseDistProblemDetails();
        app.UseRouting();
        app.UseHttpMetrics(http =>
        {
            http.SetMetricFactory(Metrics.WithCustomRegistry(metrics.Registry));
            // Requests in progress are nearly all long polls, which jp1dist_connected_agents counts; its middleware would
            // hold a state of its own through every poll's wait.
            http.InProgress.Enabled = false;
        });
        app.MapAgentApi(maxPollWait);
        app.MapMetrics("/metrics", metrics.Registry);
        return app;
    }
}
