using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Power;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Relay;

/// <summary>
/// A relay's part in Wake-on-LAN: the signed orders in its work snapshot that name this relay are sent on its own network,
/// each once (a later snapshot that still lists one sends nothing again); orders for relays below it are kept in the
/// snapshot and passed down to them. An order that does not verify is logged and never sent: only the manager decides what
/// a relay wakes.
/// </summary>
public sealed class RelayWake(ILogger logger, TimeProvider time)
{
    private readonly ConcurrentDictionary<Guid, DateTime> _sent = new();
    private readonly ConcurrentDictionary<string, byte> _refused = new(StringComparer.Ordinal);

    /// <summary>
    /// Sends the orders for <paramref name="self"/> that verify against <paramref name="trustedKeys"/> and were not sent yet;
    /// returns the orders to keep in the snapshot (every order whose signature a trusted key made: the lower relays check their own).
    /// </summary>
    public async Task<IReadOnlyList<SignedWakeOrder>> ApplyAsync(IReadOnlyList<SignedWakeOrder>? orders, IReadOnlyCollection<string> trustedKeys, Guid? self,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var (id, expires) in _sent)
        {
            if (expires + WakeOrder.Lifetime < now)
            {
                _sent.TryRemove(id, out _);
            }
        }
        var kept = new List<SignedWakeOrder>();
        foreach (var signed in orders ?? [])
        {
            if (signed is null)
            {
                continue;
            }
            if (RelayOf(signed) is not { } relayId)
            {
                Refuse(signed, "it cannot be read");
                continue;
            }
            if (relayId != self)
            {
                if (trustedKeys.Any(key => Protocol.Signing.ManifestSigner.Verify(key, signed.Order, signed.Signature)))
                {
                    kept.Add(signed); // for a relay below: it verifies and sends it
                }
                continue;
            }
            if (signed.Verify(trustedKeys, relayId, now, out var refusal) is not { } order)
            {
                Refuse(signed, refusal!);
                continue;
            }
            kept.Add(signed);
            if (!_sent.TryAdd(order.OrderId, order.ExpiresAt))
            {
                continue;
            }
            await SendAsync(order, cancellationToken);
        }
        return kept;
    }

    private async Task SendAsync(WakeOrder order, CancellationToken cancellationToken)
    {
        var address = IPAddress.Parse(order.BroadcastAddress);
        try
        {
            await MagicPacket.SendAsync(order.MacAddress, address, order.Port, cancellationToken);
            logger.LogInformation("Woke {Host} as the manager asked: magic packet for {Mac} sent to {Address}:{Port}", order.HostName, order.MacAddress, address, order.Port);
        }
        catch (SocketException e)
        {
            logger.LogWarning("Could not wake {Host}: sending the magic packet for {Mac} to {Address}:{Port} failed ({Error})",
                order.HostName, order.MacAddress, address, order.Port, e.Message);
        }
    }

    private void Refuse(SignedWakeOrder signed, string why)
    {
        if (_refused.TryAdd(signed.Signature ?? "", 0))
        {
            logger.LogWarning("A Wake-on-LAN order from the higher system was refused and is not sent: {Why}", why);
        }
    }

    /// <summary>The relay an order names, read without checking it (the relay it names checks it); null when it cannot be read.</summary>
    public static Guid? RelayOf(SignedWakeOrder signed)
    {
        try
        {
            return JsonSerializer.Deserialize<WakeOrder>(signed.Order ?? "", ProtocolJson.Options)?.RelayId;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
