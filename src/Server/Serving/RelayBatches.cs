using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;

namespace JP1Dist.Server.Serving;

/// <summary>How a higher system applies a relay's batch: entry by entry, each answered on its own.</summary>
public static class RelayBatches
{
    /// <summary>
    /// Applies every entry whose host is in <paramref name="allowed"/> (the relay and the hosts below it); an entry for
    /// another host, one that breaks a limit (<see cref="RequestValidator.CheckEntry"/>), or one that is refused, is
    /// answered with an error id and not applied. Not the whole batch: a relay does not send a refused entry again,
    /// while a refused batch would come again and again and hold up every entry behind it. Entries of one host are
    /// applied in order (a progress report before the result); different hosts at once, so their writes share commits.
    /// </summary>
    public static async Task<RelayBatchResponse> ApplyAsync(RelayBatch batch, IReadOnlySet<Guid> allowed,
        Func<RelayBatchEntry, CancellationToken, Task<RelayBatchResult>> apply, CancellationToken cancellationToken)
    {
        var results = new RelayBatchResult[batch.Entries.Count];
        var byHost = batch.Entries.Select((entry, index) => (entry, index)).GroupBy(x => x.entry.HostId);
        await Task.WhenAll(byHost.Select(async group =>
        {
            foreach (var (entry, index) in group)
            {
                results[index] = await ApplyOneAsync(entry, index, allowed, apply, cancellationToken);
            }
        }));
        return new RelayBatchResponse(results);
    }

    /// <summary>
    /// The relay that served an entry's host: the one the entry names (<see cref="RelayBatchEntry.Via"/>) when it is the
    /// sending relay or below it, else the sending relay itself.
    /// </summary>
    public static Guid ServedBy(RelayBatchEntry entry, Guid relayId, IReadOnlySet<Guid> allowed) =>
        entry.Via is { } via && allowed.Contains(via) ? via : relayId;

    private static async Task<RelayBatchResult> ApplyOneAsync(RelayBatchEntry entry, int index, IReadOnlySet<Guid> allowed,
        Func<RelayBatchEntry, CancellationToken, Task<RelayBatchResult>> apply, CancellationToken cancellationToken)
    {
        if (RequestValidator.CheckEntry(entry, index) is { } problem)
        {
            return new RelayBatchResult(entry.Seq, ErrorId: RequestValidator.ErrorId, Message: problem.Message);
        }
        if (!allowed.Contains(entry.HostId))
        {
            return new RelayBatchResult(entry.Seq, ErrorId: "HostNotBelowRelay",
                Message: $"Host {entry.HostId} is not below this relay; a relay passes up only its own lower clients' data.");
        }
        try
        {
            return await apply(entry, cancellationToken);
        }
        catch (DistException e)
        {
            return new RelayBatchResult(entry.Seq, ErrorId: e.ErrorId, Message: e.Message);
        }
    }
}
