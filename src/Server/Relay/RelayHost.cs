using JP1Dist.Agent;
using JP1Dist.Core.Distribution;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Relay;

/// <summary>
/// The relay process: Kestrel with the same agent API the manager serves (through <see cref="RelayNode"/>), the uplink
/// to its higher system, and the relay's own client role (an agent registered as kind Relay, which also stores
/// packages for transfer-to-relay jobs).
/// </summary>
public static class RelayHost
{
    /// <summary>Builds the relay application; run it with <c>RunAsync</c>.</summary>
    public static WebApplication Build(RelayOptions options, string[]? args = null)
    {
        // Before anything is created or bound: plain HTTP beyond loopback, either way, is refused here.
        foreach (var higher in options.HigherSystemUrls)
        {
            if (PlainHttp.ConnectRefusal("relay", higher, options.Tls.AllowInsecureHttp) is { } refusal)
            {
                throw new DistException("HigherSystemUrlInsecure", DistErrorKind.InvalidArgument, refusal, higher);
            }
        }
        var served = NodeServer.PrepareListener("relay", options.ListenUrl, options.Tls, options.StateFolder);
        Directory.CreateDirectory(options.StateFolder);
        var builder = NodeServer.CreateBuilder("relay", "JP1Dist Relay", options.StateFolder, options.LogsFolder, options.ListenUrl, options.QuietConsole, args, served, options.MaxConnections);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new RelayStore(options.DatabasePath));
        builder.Services.AddSingleton(sp => new RelayUpstream(options, logger: sp.GetRequiredService<ILoggerFactory>().CreateLogger("JP1Dist.Relay.Upstream")));
        builder.Services.AddSingleton(sp => new PackageCache(options.CacheFolder, sp.GetRequiredService<RelayUpstream>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("JP1Dist.Relay.Cache")));
        builder.Services.AddSingleton<RelayNode>();
        builder.Services.AddSingleton<IHigherSystemNode>(sp => sp.GetRequiredService<RelayNode>());
        builder.Services.AddHostedService<RelayUplink>();
        builder.Services.AddHostedService<RelayClientRole>();
        builder.Services.AddHostedService<RelayCertificateRenewal>();

        var app = builder.Build();
        app.WarnIfInsecure([options.ListenUrl, .. options.HigherSystemUrls.Select(u => u.ToString())]);
        RelayCertificateRenewal.ServeKept(options, served, app.Logger);
        return app.MapNode(options.MaxPollWait);
    }
}

/// <summary>
/// The relay as a client of its own higher system: registers it (kind Relay, with the address it serves on), installs
/// what jobs send the relay itself, and stores transfer-to-relay packages in the relay's cache.
/// </summary>
internal sealed class RelayClientRole(RelayOptions options, RelayNode node, IServer server, IHostApplicationLifetime lifetime, ILogger<RelayClientRole> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Kestrel binds before ApplicationStarted fires: the relay registers the address it really serves on.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await Task.WhenAny(started.Task, Task.Delay(Timeout.Infinite, stoppingToken));
        }
        if (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        var url = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? options.ListenUrl;
        logger.LogInformation("Relay {Name} serving lower clients on {Url}; higher system {Higher}", options.Name, url, string.Join(", then ", options.HigherSystemUrls));
        var agent = new AgentOptions
        {
            ManagerUrl = options.HigherSystemUrl,
            FailoverUrls = options.FailoverUrls,
            ReturnToFirstAfter = options.ReturnToFirstAfter,
            Token = options.Token,
            CertificatePin = options.CertificatePin,
            AllowInsecureHttp = options.Tls.AllowInsecureHttp,
            Name = options.Name,
            StateFolder = options.AgentFolder,
            Kind = "Relay",
            RelayUrl = url,
            InstallWrapper = options.InstallWrapper,
        };
        options.Power?.ApplyTo(agent);
        await AgentWorker.RunAsync(new AgentRuntime(agent, logger, relayStore: node), logger, lifetime, stoppingToken);
    }
}
