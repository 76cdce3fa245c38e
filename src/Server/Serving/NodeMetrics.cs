using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using Prometheus;

namespace JP1Dist.Server.Serving;

/// <summary>
/// What a node exposes on GET /metrics (Prometheus text format): content bytes served, agents polling now, relay polls woken,
/// targets by status (as this node knows them: the manager all, a relay those of its subtree), and (from the HTTP middleware) request counts and durations by endpoint. One registry
/// per node, so several nodes in one process (tests, benchmarks) do not add up each other's counters.
/// </summary>
public sealed class NodeMetrics
{
    public NodeMetrics(IHigherSystemNode node, HostSignals signals, ConnectionBudget connections, DatabaseBusy databaseBusy, DistributionService? distribution = null)
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        ContentBytesServed = factory.CreateCounter("jp1dist_content_bytes_served_total", "Package content bytes sent to lower clients.");
        ConnectedAgents = factory.CreateGauge("jp1dist_connected_agents", "Agents holding a long poll open now.");
        var targets = factory.CreateGauge("jp1dist_targets", "Job targets by status.", "status");
        var relayPollsWoken = factory.CreateCounter("jp1dist_relay_polls_woken_total",
            "Relay long polls woken by a change for the relay or a host below it (each reads its subtree's work again).");
        var open = factory.CreateGauge("jp1dist_connections_open", "Client connections this node holds now.");
        var shed = factory.CreateCounter("jp1dist_connections_shed_total",
            "Client connections closed unserved because the node held as many as it serves at once (--max-connections, or its file-descriptor limit less a reserve).");
        var files = factory.CreateGauge("jp1dist_content_files_open", "Content files this node is serving now.");
        var busy = factory.CreateCounter("jp1dist_content_busy_total",
            "Content requests answered 503 ContentBusy: too few file descriptors free to open the file (the agent resumes later).");
        var fds = factory.CreateGauge("process_open_fds", "File descriptors the process has open (at the node's last count, every second).",
            new GaugeConfiguration { SuppressInitialValue = true });
        var maxFds = factory.CreateGauge("process_max_fds", "The process's limit on open file descriptors (none on Windows).",
            new GaugeConfiguration { SuppressInitialValue = true });
        var database = factory.CreateCounter("jp1dist_database_busy_total",
            "Requests answered 503 DatabaseBusy: the database could not do the work then (no connection left, busy, refusing more); the client comes back.");
        var looks = factory.CreateCounter("jp1dist_poll_looks_total",
            "Agents' polls by what they cost the manager: made (a look at the database), skipped (nothing signalled for the host since its last look found nothing) or prepared (answered from the look a dispatch made for many hosts at once).", "look");
        Registry.AddBeforeCollectCallback(async cancellationToken =>
        {
            if (distribution is not null)
            {
                var (made, skipped) = distribution.Looks;
                looks.WithLabels("made").IncTo(made);
                looks.WithLabels("skipped").IncTo(skipped);
                looks.WithLabels("prepared").IncTo(distribution.AnswersPrepared);
            }
            open.Set(connections.Open);
            shed.IncTo(connections.Shed);
            files.Set(connections.FilesOpen);
            busy.IncTo(connections.FilesRefused);
            database.IncTo(databaseBusy.Count);
            if (connections.DescriptorsInUse is { } inUse)
            {
                fds.Set(inUse);
            }
            if (connections.DescriptorLimit is { } limit)
            {
                maxFds.Set(limit);
            }
            relayPollsWoken.IncTo(signals.RelayPollsWoken);
            var counts = await node.CountTargetsAsync(cancellationToken);
            foreach (var status in Enum.GetValues<TargetStatus>())
            {
                targets.WithLabels(status.ToString()).Set(counts.TryGetValue(status, out var count) ? count : 0);
            }
        });
    }

    public CollectorRegistry Registry { get; }
    public Counter ContentBytesServed { get; }
    public Gauge ConnectedAgents { get; }
}
