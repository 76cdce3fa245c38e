using System.Security.Cryptography;
using System.Text;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Distribution;

/// <summary>A relay's long poll for its subtree's work: answered when the snapshot differs from the one the relay holds.</summary>
public static class RelayPoll
{
    /// <summary>
    /// A snapshot with its tag: a hash of every item's ticket, host, status and signatures, in order, of the manifests'
    /// signatures, of the signing-key announcements, of every revoked credential and of every wake and power order, so that anything signed again
    /// (settings renewed, a rotation), a new announcement or a revocation reaches the relays below as a new snapshot, and
    /// answers a waiting relay poll at once.
    /// </summary>
    public static RelayWorkResponse Snapshot(IReadOnlyList<RelayWorkItem> items, IReadOnlyDictionary<string, SignedManifest> manifests,
        IReadOnlyList<Protocol.Signing.SigningKeyAnnouncement>? announcements = null, IReadOnlyList<RevokedCredential>? revoked = null,
        IReadOnlyList<Protocol.Power.SignedWakeOrder>? wakeOrders = null, IReadOnlyList<Protocol.Power.SignedPowerOrder>? powerOrders = null)
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
        foreach (var credential in revoked ?? [])
        {
            text.Append("revoked ").Append(credential.HostId).Append(' ').Append(credential.CredentialHash).Append('\n');
        }
        foreach (var order in wakeOrders ?? [])
        {
            text.Append("wake ").Append(order.Signature).Append('\n');
        }
        foreach (var order in powerOrders ?? [])
        {
            text.Append("power ").Append(order.Signature).Append('\n');
        }
        var etag = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
        return new RelayWorkResponse(items, manifests, etag, announcements is { Count: > 0 } ? announcements : null, revoked is { Count: > 0 } ? revoked : null,
            wakeOrders is { Count: > 0 } ? wakeOrders : null, powerOrders is { Count: > 0 } ? powerOrders : null);
    }

    /// <summary>
    /// Looks until the snapshot's tag differs from <paramref name="etag"/> or <paramref name="wait"/> has passed; woken
    /// by a change for the relay or a host below it.
    /// </summary>
    public static async Task<RelayWorkResponse> WaitAsync(HostSignals signals, Guid relayId, TimeSpan wait, TimeProvider time, string? etag,
        Func<CancellationToken, Task<RelayWorkResponse>> look, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        // Ends the wait a look that found a new snapshot leaves behind, as the poll answers.
        using var end = new PollEnd(cancellationToken);
        while (true)
        {
            var remaining = deadline - time.GetUtcNow();
            var signal = signals.WaitForRelayAsync(relayId,
                remaining > LongPoll.RecheckInterval ? LongPoll.RecheckInterval : remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, end.Task);
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
