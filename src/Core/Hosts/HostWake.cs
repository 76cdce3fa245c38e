using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Power;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Hosts;

/// <summary>
/// Wake-on-LAN, decided in one place for Start-DistHost and for a job's -WakeOnLan: a host with a known MAC address is
/// woken by a magic packet to the broadcast address of its last reported network (or the address given) sent from here
/// when the host is directly under the manager, or by a signed order that its relay finds in its work snapshot and sends on
/// its own network (a broadcast does not cross routers). A host without a known MAC address is told apart, never skipped
/// in silence.
/// </summary>
public sealed class HostWake(DistEngine engine)
{
    /// <summary>The address a host's packet goes to when its network is unknown: the limited broadcast of the sender's own network.</summary>
    public static readonly IPAddress FallbackAddress = IPAddress.Broadcast;

    /// <summary>A host to wake, as the inventory knows it.</summary>
    public sealed record Host(Guid Id, string Name, string? MacAddress, string NetworksJson, Guid? ParentHostId);

    /// <summary>The hosts' rows as <see cref="Host"/>.</summary>
    public static IQueryable<Host> Select(IQueryable<HostRow> rows) => rows.Select(h => new Host(h.Id, h.Name, h.MacAddress, h.NetworksJson, h.ParentHostId));

    /// <summary>How long a wake order is kept after it expired, for the status (Get-DistHost's PowerStatus) to say what became of it.</summary>
    public static readonly TimeSpan KeptAfterExpiry = TimeSpan.FromDays(1);

    /// <summary>
    /// Wakes <paramref name="hosts"/> (packets sent at once, relay orders added to <paramref name="db"/> and saved);
    /// <paramref name="address"/> overrides each host's broadcast address. One result per host, in the order given.
    /// <paramref name="executionId"/> names the job execution the hosts are woken for: the relay's report of the send
    /// then replaces the targets' power note.
    /// </summary>
    public async Task<IReadOnlyList<DistHostWake>> WakeAsync(DistDbContext db, IReadOnlyList<Host> hosts, IPAddress? address, int port, CancellationToken cancellationToken,
        int? executionId = null)
    {
        var now = engine.Now;
        var relayIds = hosts.Where(h => h.ParentHostId is not null).Select(h => h.ParentHostId!.Value).Distinct().ToList();
        var relays = relayIds.Count == 0 ? new Dictionary<Guid, string>()
            : await db.Hosts.AsNoTracking().Where(h => relayIds.Contains(h.Id)).ToDictionaryAsync(h => h.Id, h => h.Name, cancellationToken);
        var key = relayIds.Count == 0 ? null : engine.SigningKeys.Current();
        var results = new List<DistHostWake>(hosts.Count);
        foreach (var host in hosts)
        {
            var sender = host.ParentHostId is { } parent ? relays.GetValueOrDefault(parent, parent.ToString()) : DistHost.ManagerHigherSystem;
            if (MagicPacket.ParseMac(host.MacAddress) is null)
            {
                results.Add(new DistHostWake(host.Name, WakeOutcome.NoMacAddress, host.MacAddress, null, port, sender, now,
                    "Not woken: no MAC address is known for this host (its agent has not reported one), so no magic packet could be sent; "
                    + "start the computer by hand."));
                continue;
            }
            var target = address ?? BroadcastOf(host.NetworksJson);
            if (host.ParentHostId is { } relayId)
            {
                var order = new WakeOrder(Guid.NewGuid(), relayId, host.Id, host.Name, host.MacAddress!, target.ToString(), port, now + WakeOrder.Lifetime);
                var json = JsonSerializer.Serialize(order, ProtocolJson.Options);
                var asked = $"Wake-on-LAN asked of relay '{sender}' at {now:yyyy-MM-dd HH:mm:ss} UTC: it sends the magic packet for {host.MacAddress} to {target}:{port} "
                    + $"on its own network (the order stands until {order.ExpiresAt:HH:mm:ss} UTC).";
                db.WakeOrders.Add(new WakeOrderRow
                {
                    Id = order.OrderId, RelayId = relayId, HostId = host.Id, OrderJson = json, Signature = key!.Signer.Sign(json), CreatedAt = now, ExpiresAt = order.ExpiresAt,
                    ExecutionId = executionId, Message = asked,
                });
                results.Add(new DistHostWake(host.Name, WakeOutcome.AskedOfRelay, host.MacAddress, target.ToString(), port, sender, now, asked));
                continue;
            }
            try
            {
                await MagicPacket.SendAsync(host.MacAddress!, target, port, cancellationToken);
                results.Add(new DistHostWake(host.Name, WakeOutcome.Sent, host.MacAddress, target.ToString(), port, sender, now,
                    $"Woken at {now:yyyy-MM-dd HH:mm:ss} UTC: the manager sent the magic packet for {host.MacAddress} to {target}:{port}."));
            }
            catch (SocketException e)
            {
                results.Add(new DistHostWake(host.Name, WakeOutcome.SendFailed, host.MacAddress, target.ToString(), port, sender, now,
                    $"Not woken: sending the magic packet for {host.MacAddress} to {target}:{port} failed ({e.Message})."));
            }
        }
        // Orders a relay no longer acts on are kept a while for the status, then of no use to anyone.
        var forgotten = now - KeptAfterExpiry;
        await db.WakeOrders.Where(w => w.ExpiresAt < forgotten).ExecuteDeleteAsync(cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        return results;
    }

    /// <summary>
    /// Records a relay's report on a wake order it was asked to send (<see cref="PowerReports.WakeSent"/> or WakeFailed): only
    /// from the relay the order names, once (compare-and-set on ReportedAt, so a report sent again changes nothing), and,
    /// for a job's wake, as the power note of the execution's target for that host while the note is still the asking.
    /// Null when the reporter has no such order.
    /// </summary>
    public static async Task<ReportResponse?> ReportAsync(DistDbContext db, Guid relayId, ReportRequest report, DateTime now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (await db.WakeOrders.AsNoTracking().Where(w => w.Id == report.WorkItemId && w.RelayId == relayId)
                .Select(w => new { w.HostId, w.ExecutionId, w.Message, w.ReportedAt }).FirstOrDefaultAsync(cancellationToken) is not { } order)
        {
            return null;
        }
        var message = report.Message is { Length: > 0 } text ? (text.Length > 2000 ? text[..2000] : text)
            : report.Status == PowerReports.WakeSent ? $"Woken: the relay reported at {now:yyyy-MM-dd HH:mm:ss} UTC that it sent the magic packet."
            : $"Not woken: the relay reported at {now:yyyy-MM-dd HH:mm:ss} UTC that sending the magic packet failed.";
        if (order.ReportedAt is not null
            || await db.WakeOrders.Where(w => w.Id == report.WorkItemId && w.ReportedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(w => w.ReportedAt, now).SetProperty(w => w.Message, message), cancellationToken) == 0)
        {
            return new ReportResponse(false, report.Status); // a repeat: the first report counted
        }
        if (order.ExecutionId is { } executionId)
        {
            await db.Targets.Where(t => t.ExecutionId == executionId && t.HostId == order.HostId && t.PowerNote == order.Message)
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.PowerNote, message), cancellationToken);
        }
        return new ReportResponse(true, report.Status);
    }

    /// <summary>
    /// The newest wake order by a relay of each host, as Get-DistHost's PowerStatus shows it: what the relay reported, else
    /// that it was asked, else that it expired unreported; with the time it was asked, to weigh against a newer shutdown order.
    /// </summary>
    public static async Task<Dictionary<Guid, (DateTime At, string Message)>> LatestAsync(DistDbContext db, DateTime now, CancellationToken cancellationToken)
    {
        var rows = await db.WakeOrders.AsNoTracking().OrderBy(w => w.CreatedAt)
            .Select(w => new { w.HostId, w.CreatedAt, w.ExpiresAt, w.ReportedAt, w.Message }).ToListAsync(cancellationToken);
        return rows.GroupBy(r => r.HostId).ToDictionary(g => g.Key, g =>
        {
            var last = g.Last();
            var message = last.ReportedAt is null && last.ExpiresAt <= now
                ? $"Wake-on-LAN asked of a relay at {last.CreatedAt:yyyy-MM-dd HH:mm:ss} UTC: the relay did not report sending it before the order expired at {last.ExpiresAt:HH:mm:ss} UTC."
                : last.Message ?? "";
            return (last.CreatedAt, message);
        });
    }

    /// <summary>The broadcast address of the first IPv4 network the host reported; the limited broadcast when none is known.</summary>
    public static IPAddress BroadcastOf(string? networksJson)
    {
        string[] networks;
        try
        {
            networks = JsonSerializer.Deserialize<string[]>(networksJson ?? "[]") ?? [];
        }
        catch (JsonException)
        {
            networks = [];
        }
        return networks.Select(MagicPacket.BroadcastOf).FirstOrDefault(a => a is not null) ?? FallbackAddress;
    }

    /// <summary>The address Start-DistHost or a manager option names, checked: an IPv4 or IPv6 address; InvalidArgument otherwise.</summary>
    public static IPAddress? ParseAddress(string? text, string what) =>
        string.IsNullOrWhiteSpace(text) ? null
        : IPAddress.TryParse(text.Trim(), out var address) ? address
        : throw new DistException("BroadcastAddressInvalid", DistErrorKind.InvalidArgument,
            $"{what} '{text}' is not an IP address; give one such as 192.168.10.255.", text);

    /// <summary>A UDP port from 1 to 65535; InvalidArgument otherwise.</summary>
    public static int CheckPort(int port) => port is >= 1 and <= 65535 ? port
        : throw new DistException("WakePortOutOfRange", DistErrorKind.InvalidArgument, $"Port {port} is out of range: use 1 to 65535 (Wake-on-LAN uses 9 or 7).", port);
}
