using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Hosts;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Storage;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace JP1Dist.Server.Manager;

/// <summary>
/// The manager process: Kestrel with the agent API, the Quartz scheduler on the same database, the
/// sweeper that turns recorded intent into triggers, and a heartbeat that tells cmdlets it runs.
/// </summary>
public static class ManagerHost
{
    /// <summary>
    /// How often a manager node on PostgreSQL tells the other nodes' schedulers that it lives. A node that misses its
    /// check-ins for about this long plus Quartz's 7.5 s margin is taken for dead, and its triggers fire elsewhere.
    /// </summary>
    public static readonly TimeSpan ClusterCheckinInterval = TimeSpan.FromSeconds(5);

    /// <summary>Builds the manager application; run it with <c>RunAsync</c>.</summary>
    public static WebApplication Build(ManagerOptions options, string[]? args = null)
    {
        var folder = DataFolder.Resolve(options.Home);
        Core.Audit.AuditRetention.Check(options.AuditRetention);
        // Before anything is created or bound: a listener that would expose plain HTTP is refused here.
        var served = NodeServer.PrepareListener("manager", options.ListenUrl, options.Tls, folder.KeysPath);
        var database = Core.Storage.DatabaseSettings.Resolve(folder, options.Database);
        if (options.Database is not null)
        {
            database.RecordIn(folder);
        }
        var engine = new DistEngine(folder, database);
        // Every change of targets here, and every nudge from elsewhere, signals a wait on job status: it need not look often.
        engine.TargetChanges.RecheckInterval = LongPoll.RecheckInterval;
        engine.Database.EnsureMigrated();
        if (!engine.Database.IsPostgreSql)
        {
            SchedulerStoreUpgrade.Apply(engine.Database.ConnectionString); // builds before PostgreSQL support wrote only SQLite
        }
        _ = engine.Signer.PublicKey; // create (or find) the signing key before the first agent asks for it

        var builder = NodeServer.CreateBuilder("manager", "JP1Dist Manager", folder.Root, folder.LogsPath, options.ListenUrl, options.QuietConsole, args, served, options.MaxConnections);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(engine);
        // The engine's own: what an offline result imported through the admin API reports, agents' polls wait on.
        builder.Services.AddSingleton(engine.Signals);
        builder.Services.AddSingleton(engine.Distribution);
        builder.Services.AddSingleton<LastSeenRecorder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LastSeenRecorder>());
        builder.Services.AddHostedService<QuietRenewal>();
        builder.Services.AddSingleton<ManagerNode>();
        builder.Services.AddSingleton<IHigherSystemNode>(sp => sp.GetRequiredService<ManagerNode>());
        builder.Services.AddSingleton<IntentSweeper>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<IntentSweeper>());
        builder.Services.AddHostedService<ManagerHeartbeat>();
        builder.Services.AddHostedService<UploadSweeper>();
        builder.Services.AddHostedService<AuditRetentionSweep>();
        builder.Services.AddHostedService<OfferExpirySweep>();
        if (engine.Database.IsPostgreSql)
        {
            // Other manager nodes may share the database: what is signalled here wakes their polls too, and theirs ours.
            builder.Services.AddSingleton<PeerSignals>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<PeerSignals>());
        }
        builder.Services.AddAdminApi();
        builder.Services.AddSingleton<AdminRateLimit>();
        builder.Services.AddSingleton<CredentialWatch>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CredentialWatch>());
        if (options.ParentProcessId is { } parent)
        {
            builder.Services.AddHostedService(sp => new ParentWatcher(parent, sp.GetRequiredService<IHostApplicationLifetime>()));
        }
        builder.Services.AddQuartz(q =>
        {
            q.ConfigureScheduler(s => s.InstanceName = "JP1Dist");
            q.UsePersistentStore(store =>
            {
                if (engine.Database.IsPostgreSql)
                {
                    // Several manager nodes may share a PostgreSQL database: each trigger fires on one of them, and the
                    // triggers a node was firing when it died are fired again by another once it has missed its check-ins.
                    // Quartz gives each clustered node an instance id of its own (generated at every start), so one node's
                    // recovery never takes a live node's firings for its own.
                    store.UsePostgres(engine.Database.ConnectionString);
                    store.UseClustering(c =>
                    {
                        c.CheckinInterval = ClusterCheckinInterval;
                        c.CheckinMisfireThreshold = ClusterCheckinInterval;
                    });
                }
                else
                {
                    // Never clustered: SQLite cannot hold Quartz's cluster locks, and this process is the only writer.
                    store.UseSqlite(engine.Database.ConnectionString);
                }
                store.ProvisionSchema();
            });
        });
        builder.Services.AddQuartzHostedService(q => q.WaitForJobsToComplete = true);

        var app = builder.Build();
        _ = app.Services.GetRequiredService<AdminRateLimit>(); // a limit that cannot be is refused at start, not at the first request
        // Which relays a change for a host wakes: every host's higher system, then each registration's.
        var signals = app.Services.GetRequiredService<HostSignals>();
        using (var db = engine.Database.CreateContext())
        {
            foreach (var (host, higher) in HostTree.Parents(db))
            {
                signals.Learn(host, higher);
            }
        }
        app.WarnIfInsecure(options.ListenUrl);
        app.MapNode(options.MaxPollWait);
        app.MapManagerControl();
        app.UseAdminApi();
        app.MapAdminApi();
        return app;
    }

    /// <summary>The address Kestrel actually listens on (useful when the port was 0).</summary>
    public static string BoundUrl(this WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
        ?? app.Services.GetService<ManagerOptions>()?.ListenUrl ?? throw new InvalidOperationException("The application has not bound an address yet.");
}

/// <summary>Announces the running manager (its real URL and process) every few seconds, and signs off on a clean stop.</summary>
internal sealed class ManagerHeartbeat(
    DistributionService distribution,
    IServer server,
    IHostApplicationLifetime lifetime,
    ManagerOptions options,
    ServedCertificate served,
    ILogger<ManagerHeartbeat> logger) : BackgroundService
{
    private readonly string _nodeId = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
    private readonly DateTime _startedAt = DateTime.UtcNow;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Kestrel binds before ApplicationStarted fires; wait for it so the announced URL is the real one.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await Task.WhenAny(started.Task, Task.Delay(Timeout.Infinite, stoppingToken));
        }
        var url = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? options.ListenUrl;
        if (served.Pin is { } pin)
        {
            logger.LogInformation("Manager (process {ProcessId}) listening on {Url} with data folder {Home}; certificate pin {Pin}", Environment.ProcessId, url, distribution.Folder, pin);
        }
        else
        {
            logger.LogInformation("Manager (process {ProcessId}) listening on {Url} with data folder {Home}", Environment.ProcessId, url, distribution.Folder);
        }
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await distribution.HeartbeatAsync(_nodeId, url, _startedAt, served.Pin, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Heartbeat failed");
                }
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            // Signing off tells status at once that no manager runs.
            await distribution.SignOffAsync(_nodeId, CancellationToken.None);
        }
    }
}

/// <summary>Stops a manager hosted for a PowerShell session when that session's process is gone.</summary>
internal sealed class ParentWatcher(int parentProcessId, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!ProcessLiveness.IsRunning(parentProcessId))
            {
                lifetime.StopApplication();
                return;
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
