using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Hosts;
using JP1Dist.Core.Managers;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Server.Manager;

/// <summary>The manager's answers to relays: the work of their subtrees, and what they pass upward.</summary>
public sealed partial class ManagerNode
{
    public async Task<bool> IsAtOrBelowAsync(Guid hostId, Guid relayId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await HostTree.IsAtOrBelowAsync(db, hostId, relayId, cancellationToken);
    }

    public async Task<bool> IsRelayAsync(Guid hostId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await db.Hosts.AnyAsync(h => h.Id == hostId && h.Kind == HostKind.Relay, cancellationToken);
    }

    public Task<RelayWorkResponse> WaitForRelayWorkAsync(Guid relayId, TimeSpan wait, string? etag, CancellationToken cancellationToken) =>
        RelayPoll.WaitAsync(signals, relayId, wait, engine.Time, etag, async ct =>
            await distribution.GetRelayWorkAsync(await BelowAsync(relayId, ct), ct, relayId), cancellationToken);

    public async Task<RelayBatchResponse> ApplyRelayBatchAsync(Guid relayId, RelayBatch batch, CancellationToken cancellationToken)
    {
        var below = await BelowAsync(relayId, cancellationToken);
        below.Add(relayId);
        return await RelayBatches.ApplyAsync(batch, below, async (entry, ct) =>
        {
            if (entry.Report is { } report)
            {
                return new RelayBatchResult(entry.Seq, await distribution.ReportAsync(entry.HostId, report, ct, RelayBatches.ServedBy(entry, relayId, below)));
            }
            if (entry.Facts is { } facts)
            {
                await engine.Inventory.ReportFactsAsync(entry.HostId, facts, ct);
            }
            if (entry.SeenAt is { } seen)
            {
                lastSeen.Note(entry.HostId, seen);
            }
            return new RelayBatchResult(entry.Seq);
        }, cancellationToken);
    }

    private async Task<HashSet<Guid>> BelowAsync(Guid relayId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await HostTree.DescendantsAsync(db, relayId, cancellationToken);
    }
}
