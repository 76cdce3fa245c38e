using System.Globalization;
using System.Text;
using JP1Dist.Core;
using JP1Dist.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Carries the signals of one manager node to the others that share its PostgreSQL database: work queued for hosts whose
/// polls wait on another node, every poll woken by a nudge, and "targets changed" for waits on a job's status (Wait-DistJob
/// through another node). In-process signals (<see cref="Core.Distribution.HostSignals"/>, <see cref="Core.Distribution.TargetChanges"/>)
/// do not cross processes; this passes them through PostgreSQL's LISTEN/NOTIFY on the channel <see cref="Channel"/>.
/// </summary>
/// <remarks>
/// <para>
/// Sending: the signals made here are gathered while a notification is being sent and go out together, so a burst of
/// reports costs one notification, and a dispatch to many hosts a few (each carries up to <see cref="HostsPerNotification"/>
/// host ids, within PostgreSQL's 8,000-byte payload). Receiving: one connection listens; what another node sent wakes this
/// node's polls as if it had been signalled here, and is not passed on again.
/// </para>
/// <para>
/// Nothing depends on it for correctness, only how soon work is seen: every agent's poll looks as it starts, so work
/// whose signal was lost is seen at the host's next poll (one poll wait later at most). A notification lost (the listening connection broke, the database restarted) is covered when listening starts
/// again: every poll of this node looks again at once.
/// </para>
/// </remarks>
public sealed class PeerSignals : BackgroundService
{
    /// <summary>The PostgreSQL notification channel the manager nodes of one database share.</summary>
    public const string Channel = "jp1dist_signals";

    /// <summary>Host ids per notification: 32 hexadecimal digits and a comma each, well inside the 8,000-byte payload.</summary>
    public const int HostsPerNotification = 200;

    private readonly DistEngine _engine;
    private readonly ILogger<PeerSignals> _logger;
    private readonly string _self = Guid.NewGuid().ToString("N")[..12];
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _pending = new(0, 1);
    private HashSet<Guid> _hosts = [];
    private bool _all;
    private bool _targets;

    public PeerSignals(DistEngine engine, ILogger<PeerSignals> logger)
    {
        _engine = engine;
        _logger = logger;
        engine.Signals.Published = hosts =>
        {
            lock (_gate)
            {
                if (hosts is null)
                {
                    _all = true;
                }
                else if (!_all)
                {
                    _hosts.UnionWith(hosts);
                }
            }
            Wake();
        };
        engine.TargetChanges.Published = () =>
        {
            lock (_gate)
            {
                _targets = true;
            }
            Wake();
        };
    }

    /// <summary>Notifications received from other nodes so far (for tests and the log).</summary>
    public long Received => Interlocked.Read(ref _received);
    private long _received;

    /// <summary>Completes once this node listens (after its first LISTEN succeeded).</summary>
    public Task Listening => _listening.Task;
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Wake()
    {
        try
        {
            _pending.Release();
        }
        catch (SemaphoreFullException)
        {
            // A send is already asked for; it takes everything gathered by then.
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Task.Run(() => ListenAsync(stoppingToken), CancellationToken.None), Task.Run(() => SendAsync(stoppingToken), CancellationToken.None));

    public override void Dispose()
    {
        _engine.Signals.Published = null;
        _engine.TargetChanges.Published = null;
        base.Dispose();
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        // Its own connection, outside the pool: it stays open, LISTENing, for as long as the node runs. Keepalives find a
        // connection that died quietly (the database's computer gone) so that listening starts again.
        var connectionString = new NpgsqlConnectionStringBuilder(_engine.Database.ConnectionString)
        {
            Pooling = false, KeepAlive = 15, ApplicationName = "jp1dist manager (signals)",
        }.ConnectionString;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                connection.Notification += (_, e) => Receive(e.Payload);
                await connection.OpenAsync(stoppingToken);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                // Whatever the other nodes signalled while this one was not listening was missed: every poll here looks again.
                if (_listening.Task.IsCompleted)
                {
                    _logger.LogInformation("Listening again for the other manager nodes' signals; every waiting poll here looks again");
                    _engine.Signals.NotifyAllHere();
                    _engine.TargetChanges.NotifyHere();
                }
                _listening.TrySetResult();
                backoff.Reset();
                while (true)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                var wait = backoff.Next();
                _logger.LogWarning("Listening for the other manager nodes' signals failed ({Error}); trying again in {Seconds:0.0} s "
                    + "(meanwhile agents polling here see their work at their next poll)", e.Message, wait.TotalSeconds);
                try
                {
                    await Task.Delay(wait, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Wakes this node's polls for what another node sent; its own notifications come back too, and are ignored.</summary>
    private void Receive(string payload)
    {
        if (Parse(payload) is not { } signal || signal.Sender == _self)
        {
            return;
        }
        Interlocked.Increment(ref _received);
        if (signal.All)
        {
            _engine.Signals.NotifyAllHere();
        }
        else if (signal.Hosts.Count > 0)
        {
            _engine.Signals.NotifyHere(signal.Hosts);
        }
        if (signal.Targets)
        {
            _engine.TargetChanges.NotifyHere();
        }
    }

    private async Task SendAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        await using var source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_engine.Database.ConnectionString)
        {
            ApplicationName = "jp1dist manager (signals)", MaxPoolSize = 2,
        }.ConnectionString);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _pending.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            HashSet<Guid> hosts;
            bool all, targets;
            lock (_gate)
            {
                (hosts, all, targets) = (_hosts, _all, _targets);
                (_hosts, _all, _targets) = ([], false, false);
            }
            try
            {
                await using var connection = await source.OpenConnectionAsync(stoppingToken);
                foreach (var payload in Payloads(_self, all, targets, hosts))
                {
                    await using var notify = new NpgsqlCommand("SELECT pg_notify(@channel, @payload)", connection);
                    notify.Parameters.AddWithValue("channel", Channel);
                    notify.Parameters.AddWithValue("payload", payload);
                    await notify.ExecuteNonQueryAsync(stoppingToken);
                }
                backoff.Reset();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // Not sent: the agents polling the other nodes see the work at their next poll (one poll wait at most).
                var wait = backoff.Next();
                _logger.LogWarning("Telling the other manager nodes of new work failed ({Error}); the agents polling them see it at their next poll", e.Message);
                try
                {
                    await Task.Delay(wait, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>A notification's meaning: who sent it, whether every poll looks again, whether targets changed, and which hosts.</summary>
    public sealed record Signal(string Sender, bool All, bool Targets, IReadOnlyList<Guid> Hosts);

    /// <summary>
    /// The notifications that carry one gathering of signals: "SENDER FLAGS HOSTS", FLAGS being <c>a</c> (every poll),
    /// <c>t</c> (targets changed) or <c>-</c>, HOSTS comma-separated ids (32 hexadecimal digits), at most
    /// <see cref="HostsPerNotification"/> in each.
    /// </summary>
    public static IEnumerable<string> Payloads(string sender, bool all, bool targets, IReadOnlyCollection<Guid> hosts)
    {
        var flags = (all ? "a" : "") + (targets ? "t" : "");
        if (all || hosts.Count == 0)
        {
            if (flags.Length > 0)
            {
                yield return $"{sender} {flags} ";
            }
            yield break;
        }
        var first = true;
        foreach (var chunk in hosts.Chunk(HostsPerNotification))
        {
            var text = new StringBuilder(sender.Length + 4 + chunk.Length * 33).Append(sender).Append(' ')
                .Append(first && flags.Length > 0 ? flags : "-").Append(' ');
            text.AppendJoin(',', chunk.Select(h => h.ToString("N", CultureInfo.InvariantCulture)));
            first = false;
            yield return text.ToString();
        }
    }

    /// <summary>Reads a notification <see cref="Payloads"/> made; null for anything else on the channel.</summary>
    public static Signal? Parse(string? payload)
    {
        var parts = (payload ?? "").Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0)
        {
            return null;
        }
        var hosts = new List<Guid>();
        foreach (var id in parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Guid.TryParseExact(id, "N", out var host))
            {
                return null;
            }
            hosts.Add(host);
        }
        return new Signal(parts[0], parts[1].Contains('a', StringComparison.Ordinal), parts[1].Contains('t', StringComparison.Ordinal), hosts);
    }
}
