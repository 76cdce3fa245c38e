using System.Security.Cryptography;
using System.Text;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Distribution;

/// <summary>A relay's long poll for its subtree's work: answered when the snapshot differs from the one the relay holds.</summary>
public static class RelayPoll
{
    /// <summary>
    /// A snapshot with its tag: a hash of every item's ticket, host, status and signatures, in order, of the manifests'
    /// signatures and of the signing-key announcements, so that anything signed again (settings renewed, a rotation) or a
    /// new announcement reaches the relays below as a new snapshot.
    /// </summary>
    public static RelayWorkResponse Snapshot(IReadOnlyList<RelayWorkItem> items, IReadOnlyDictionary<string, SignedManifest> manifests,
        IReadOnlyList<Protocol.Signing.SigningKeyAnnouncement>? announcements = null)
    {
        var text = new StringBuilder(items.Count * 200);
        foreach (var item in items)
        {
            text.Append(item.Item.WorkItemId).Append(' ').Append(item.HostId).Append(' ').Append(item.Status).Append(' ')
                .Append(item.Item.JobSettingsSignature).Append(' ').Append(manifests.GetValueOrDefault(item.ManifestId)?.Signature).Append('\n');
        }
        foreach (var announcement in announcements ?? [])
        {
            text.Append(announcement.Signature).Append('\n');
        }
        var etag = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
        return new RelayWorkResponse(items, manifests, etag, announcements is { Count: > 0 } ? announcements : null);
    }

    /// <summary>
    /// Looks until the snapshot's tag differs from <paramref name="etag"/> or <paramref name="wait"/> has passed; woken
    /// by a change for the relay or a host below it.
    /// </summary>
    public static async Task<RelayWorkResponse> WaitAsync(HostSignals signals, Guid relayId, TimeSpan wait, TimeProvider time, string? etag,
        Func<CancellationToken, Task<RelayWorkResponse>> look, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            var remaining = deadline - time.GetUtcNow();
            var signal = signals.WaitForRelayAsync(relayId,
                remaining > LongPoll.RecheckInterval ? LongPoll.RecheckInterval : remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, cancellationToken);
            var snapshot = await look(cancellationToken);
            if (!string.Equals(snapshot.Etag, etag, StringComparison.Ordinal) || remaining <= TimeSpan.Zero)
            {
                return snapshot;
            }
            await signal;
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
