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
/// each once; orders for relays below it are kept in the snapshot and passed down to them. An order that does not verify
/// is logged and never sent: only the manager decides what a relay wakes.
/// The pending orders are kept in the saved snapshot before any is sent, so a relay that restarts sends those it had not
/// sent yet (<see cref="SendPendingAsync"/> at its start); each one acted on is recorded in the relay's store (wake_sent)
/// in the same transaction that queues its report for the manager (WakeSent, or WakeFailed when sending failed), so a
/// later snapshot or a restart never sends it again and the manager hears of it exactly once through the outbox. A relay
/// that dies between the send and that record sends the packet once more at its start: a second magic packet to a waking
/// computer does nothing, a lost one would leave it off.
/// </summary>
public sealed class RelayWake
{
    private readonly RelayStore _store;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<Guid, DateTime> _sent;
    private readonly ConcurrentDictionary<string, byte> _refused = new(StringComparer.Ordinal);

    public RelayWake(RelayStore store, ILogger logger, TimeProvider time)
    {
        _store = store;
        _logger = logger;
        _time = time;
        _sent = new ConcurrentDictionary<Guid, DateTime>(store.LoadWakeSent());
    }

    /// <summary>
    /// The orders to keep in the snapshot: every order whose signature a key in <paramref name="trustedKeys"/> made (the lower
    /// relays check their own), and those for <paramref name="self"/> that verify. Sends nothing: the snapshot is saved first.
    /// </summary>
    public IReadOnlyList<SignedWakeOrder> Keep(IReadOnlyList<SignedWakeOrder>? orders, IReadOnlyCollection<string> trustedKeys, Guid? self)
    {
        var now = _time.GetUtcNow().UtcDateTime;
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
            if (signed.Verify(trustedKeys, relayId, now, out var refusal) is null)
            {
                Refuse(signed, refusal!);
                continue;
            }
            kept.Add(signed);
        }
        return kept;
    }

    /// <summary>
    /// Sends the orders among <paramref name="orders"/> that name <paramref name="self"/>, verify, have not expired and were
    /// not acted on yet, and records each with its report (named <paramref name="relayName"/>) for the higher system. Returns
    /// how many reports were queued.
    /// </summary>
    public async Task<int> SendPendingAsync(IReadOnlyList<SignedWakeOrder>? orders, IReadOnlyCollection<string> trustedKeys, Guid? self, string relayName,
        CancellationToken cancellationToken)
    {
        if (self is not { } relayId)
        {
            return 0;
        }
        var now = _time.GetUtcNow().UtcDateTime;
        var forgetBefore = now - WakeOrder.Lifetime;
        foreach (var (id, expires) in _sent)
        {
            if (expires < forgetBefore)
            {
                _sent.TryRemove(id, out _);
            }
        }
        var queued = 0;
        foreach (var signed in orders ?? [])
        {
            if (signed is null || RelayOf(signed) != relayId || signed.Verify(trustedKeys, relayId, now, out _) is not { } order || _sent.ContainsKey(order.OrderId))
            {
                continue;
            }
            var report = await SendAsync(order, relayName, cancellationToken);
            _sent[order.OrderId] = order.ExpiresAt;
            if (await _store.RecordWakeSentAsync(order.OrderId, order.ExpiresAt, new RelayBatchEntry(0, relayId, Report: report), forgetBefore, cancellationToken))
            {
                queued++;
            }
        }
        return queued;
    }

    /// <summary>Sends the packet; the report that says what happened.</summary>
    private async Task<ReportRequest> SendAsync(WakeOrder order, string relayName, CancellationToken cancellationToken)
    {
        var address = IPAddress.Parse(order.BroadcastAddress);
        try
        {
            await MagicPacket.SendAsync(order.MacAddress, address, order.Port, cancellationToken);
            var at = _time.GetUtcNow().UtcDateTime;
            _logger.LogInformation("Woke {Host} as the manager asked: magic packet for {Mac} sent to {Address}:{Port}", order.HostName, order.MacAddress, address, order.Port);
            return new ReportRequest(order.OrderId, PowerReports.WakeSent,
                Message: Bounded($"Woken at {at:yyyy-MM-dd HH:mm:ss} UTC: relay '{relayName}' sent the magic packet for {order.MacAddress} to {address}:{order.Port}."));
        }
        catch (SocketException e)
        {
            _logger.LogWarning("Could not wake {Host}: sending the magic packet for {Mac} to {Address}:{Port} failed ({Error})",
                order.HostName, order.MacAddress, address, order.Port, e.Message);
            return new ReportRequest(order.OrderId, PowerReports.WakeFailed,
                Message: Bounded($"Not woken: relay '{relayName}' could not send the magic packet for {order.MacAddress} to {address}:{order.Port} ({e.Message})."));
        }
    }

    /// <summary>A report message within the protocol's limit, without control characters (a relay name or an OS error could carry them).</summary>
    private static string Bounded(string message)
    {
        var clean = new string(message.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return clean.Length > ProtocolLimits.MessageLength ? clean[..ProtocolLimits.MessageLength] : clean;
    }

    private void Refuse(SignedWakeOrder signed, string why)
    {
        if (_refused.TryAdd(signed.Signature ?? "", 0))
        {
            _logger.LogWarning("A Wake-on-LAN order from the higher system was refused and is not sent: {Why}", why);
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
