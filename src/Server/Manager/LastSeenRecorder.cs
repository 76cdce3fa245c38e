using System.Collections.Concurrent;
using JP1Dist.Core;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Hosts' last-seen times (Get-DistHost's LastSeen), noted by the requests that see the hosts and written together once a
/// second. A poll, a report or a relay's batch notes its host and goes on: no request waits for this write, and 10,000
/// agents' times, each noted every <see cref="Serving.AgentApi.LastSeenResolution"/>, are about one shared write a second
/// instead of about 80 shared writes a second of one statement each. What is noted since the last write is written at a
/// clean stop too; a manager killed loses at most a second of last-seen times, which the hosts' next requests note again.
/// Bounded by the hosts: one entry per host, the latest time kept.
/// </summary>
public sealed class LastSeenRecorder(DistEngine engine, ILogger<LastSeenRecorder> logger) : FrequentTurns(engine.Time, logger)
{
    /// <summary>How often what was noted is written.</summary>
    public static readonly TimeSpan WriteInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<Guid, DateTime> _noted = new();

    /// <summary>Notes that a host was seen at <paramref name="seenAt"/> (UTC); the next write stores it.</summary>
    public void Note(Guid hostId, DateTime seenAt)
    {
        var at = seenAt.ToUniversalTime();
        _noted.AddOrUpdate(hostId, at, (_, old) => old > at ? old : at);
    }

    /// <summary>How many hosts wait for the next write.</summary>
    public int Pending => _noted.Count;

    protected override TimeSpan Interval => WriteInterval;

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await WriteAsync(cancellationToken);
    }

    /// <summary>
    /// Writes what was noted, as a turn does; a write that fails puts its times back (unless a later one was noted
    /// meanwhile) for the next turn, and is logged once until a write succeeds again. Never throws.
    /// </summary>
    internal Task WriteAsync(CancellationToken cancellationToken) => TryTurnAsync(cancellationToken);

    protected override async Task TurnAsync(CancellationToken cancellationToken)
    {
        if (_noted.IsEmpty)
        {
            return;
        }
        var batch = new List<KeyValuePair<Guid, DateTime>>(_noted.Count);
        foreach (var hostId in _noted.Keys)
        {
            if (_noted.TryRemove(hostId, out var seen))
            {
                batch.Add(new(hostId, seen));
            }
        }
        try
        {
            await engine.Distribution.RecordLastSeenAsync(batch, cancellationToken);
        }
        catch
        {
            foreach (var (hostId, seen) in batch)
            {
                Note(hostId, seen);
            }
            throw;
        }
    }

    protected override void LogFailure(ILogger logger, Exception failure) =>
        logger.LogWarning(failure, "Writing the last-seen times of the hosts failed; they are written again in {Seconds} s", WriteInterval.TotalSeconds);
}
