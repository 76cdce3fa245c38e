using JP1Dist.Agent;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Relay;

/// <summary>
/// The relay's traffic with its higher system: a long poll for the work of every host below it (then fetching the
/// content that work needs), the outbox passed upward in batches as soon as something is queued, and the cache pruned
/// of expired packages. Each loop rides out an unreachable higher system with a growing pause, and loses nothing: the
/// snapshot and the outbox are on disk.
/// </summary>
public sealed class RelayUplink(RelayNode node, RelayStore store, RelayUpstream upstream, RelayOptions options, ILogger<RelayUplink> logger) : BackgroundService
{
    /// <summary>The most queued entries passed upward in one call; last-seen times fill the batch up to <see cref="ProtocolLimits.MaxBatchEntries"/>.</summary>
    public const int BatchSize = 500;

    /// <summary>
    /// The most JSON the queued entries of one batch take (characters; ASCII, as the writer escapes the rest): half the
    /// higher system's body limit, so that a run of large facts reports goes up over several batches instead of being
    /// refused as one.
    /// </summary>
    public const long BatchJsonChars = ProtocolLimits.MaxBodyBytes / 2;

    private readonly SemaphoreSlim _queued = new(0, int.MaxValue);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        node.Queued += () => _queued.Release();
        return Task.WhenAll(
            Task.Run(() => SyncLoopAsync(stoppingToken), CancellationToken.None),
            Task.Run(() => FlushLoopAsync(stoppingToken), CancellationToken.None),
            Task.Run(() => PruneLoopAsync(stoppingToken), CancellationToken.None));
    }

    private async Task SyncLoopAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), AgentRuntime.MaxBackoff);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (upstream.Identity is not { } identity)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), stoppingToken); // the relay's client role registers first
                    continue;
                }
                await node.SendPendingWakeAsync(identity, stoppingToken);
                var work = await upstream.Client.GetRelayWorkAsync(options.UpwardPollWait, node.SnapshotEtag, stoppingToken);
                node.HigherSystemReachable = true;
                if (!string.Equals(work.Etag, node.SnapshotEtag, StringComparison.Ordinal))
                {
                    // Announcements first: the snapshot may already be signed by the key they bring.
                    var trusted = node.LearnSigningKeys(work.SigningKeys, identity);
                    var needed = await node.ApplySnapshotAsync(work, trusted, stoppingToken);
                    logger.LogDebug("Work snapshot {Etag}: {Items} items", work.Etag, work.Items.Count);
                    if (needed.Count > 0)
                    {
                        _ = Task.Run(() => node.PrefetchAsync(needed, stoppingToken), CancellationToken.None);
                    }
                }
                node.SnapshotCurrent = true;
                backoff.Reset();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (HigherSystemClient.IsUpwardFailure(e))
            {
                node.HigherSystemReachable = false;
                var delay = backoff.Next();
                logger.Log(e is CertificatePinMismatchException ? LogLevel.Error : LogLevel.Warning,
                    "Cannot take work from the higher system {Url} ({Error}); serving the last snapshot, trying {Next} in {Delay:0.0} s",
                    upstream.Client.Systems.LastFailed ?? upstream.Client.Current, e.Message, upstream.Client.Current, delay.TotalSeconds);
                await PauseAsync(delay, stoppingToken);
            }
            catch (LocalFaultException e)
            {
                // This computer's fault (relay.db on a full disk): the relay goes on serving what it kept, and asks again.
                var delay = backoff.Next();
                logger.LogError("Cannot keep the work snapshot from the higher system: {Error} Serving the last snapshot kept, trying again in {Delay:0.0} s",
                    e.Message, delay.TotalSeconds);
                await PauseAsync(delay, stoppingToken);
            }
            catch (Exception e)
            {
                // Nothing the higher system sends ends the relay: a failure no case above expects is logged whole and tried again.
                var delay = backoff.Next();
                logger.LogError(e, "Unexpected failure taking work from the higher system {Url} ({Error}); serving the last snapshot, trying again in {Delay:0.0} s",
                    upstream.Client.Current, e.Message, delay.TotalSeconds);
                await PauseAsync(delay, stoppingToken);
            }
        }
    }

    private async Task FlushLoopAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), AgentRuntime.MaxBackoff);
        var lastSeenSent = DateTime.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Wait for something queued, or at most a few seconds (last-seen times and a retry of what is queued).
                await _queued.WaitAsync(TimeSpan.FromSeconds(5), stoppingToken);
                while (_queued.CurrentCount > 0 && _queued.Wait(0, CancellationToken.None))
                {
                    // Everything queued so far goes in this batch.
                }
                if (upstream.Identity is null)
                {
                    continue;
                }
                var queued = store.PeekOutbox(BatchSize, BatchJsonChars);
                var sendSeen = DateTime.UtcNow - lastSeenSent >= TimeSpan.FromSeconds(10) || queued.Count > 0;
                var seen = sendSeen ? node.TakeSeen(ProtocolLimits.MaxBatchEntries - queued.Count) : [];
                if (queued.Count == 0 && seen.Count == 0)
                {
                    continue;
                }
                RelayBatchResponse response;
                try
                {
                    response = await upstream.Client.SendRelayBatchAsync(new RelayBatch([.. queued.Select(q => q.Entry), .. seen]), stoppingToken);
                }
                catch
                {
                    node.ReturnSeen(seen);
                    throw;
                }
                node.HigherSystemReachable = true;
                // Last-seen times that did not fit go with the next batch at once.
                var seenLeft = node.HasSeen && seen.Count == ProtocolLimits.MaxBatchEntries - queued.Count;
                lastSeenSent = seenLeft ? DateTime.MinValue : DateTime.UtcNow;
                foreach (var result in response.Results.Where(r => r.Seq > 0))
                {
                    if (result.ErrorId is not null)
                    {
                        logger.LogWarning("The higher system refused a queued entry ({ErrorId}: {Message}); it is not sent again", result.ErrorId, result.Message);
                    }
                    node.Answer(result);
                }
                await store.RemoveFromOutboxAsync(queued.Select(q => q.Seq).ToList(), CancellationToken.None);
                if (queued.Count > 0 || seenLeft)
                {
                    _queued.Release(); // more may be waiting: the batch was full, or cut by its size
                }
                backoff.Reset();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (HigherSystemClient.IsUpwardFailure(e))
            {
                node.HigherSystemReachable = false;
                node.AnswerNone();
                var delay = backoff.Next();
                logger.LogWarning("Cannot pass {Count} queued report(s) to the higher system {Url} ({Error}); they stay queued, trying {Next} in {Delay:0.0} s",
                    store.OutboxCount(), upstream.Client.Systems.LastFailed ?? upstream.Client.Current, e.Message, upstream.Client.Current, delay.TotalSeconds);
                await PauseAsync(delay, stoppingToken);
                _queued.Release();
            }
            catch (LocalFaultException e)
            {
                // The batch may have gone up; the manager applies reports by compare-and-set, so sending it again changes nothing.
                var delay = backoff.Next();
                logger.LogError("Cannot update the outbox: {Error} Trying again in {Delay:0.0} s", e.Message, delay.TotalSeconds);
                await PauseAsync(delay, stoppingToken);
                _queued.Release();
            }
            catch (Exception e)
            {
                var delay = backoff.Next();
                logger.LogError(e, "Unexpected failure passing {Count} queued report(s) to the higher system {Url} ({Error}); they stay queued, trying again in {Delay:0.0} s",
                    store.OutboxCount(), upstream.Client.Current, e.Message, delay.TotalSeconds);
                await PauseAsync(delay, stoppingToken);
                _queued.Release();
            }
        }
    }

    private async Task PruneLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await node.PruneAsync(stoppingToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or LocalFaultException)
            {
                logger.LogWarning(e, "Pruning the package cache failed");
            }
            await PauseAsync(options.PruneInterval, stoppingToken);
        }
    }

    private static async Task PauseAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
