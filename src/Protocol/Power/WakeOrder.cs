using System.Net;
using System.Text.Json;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Protocol.Power;

/// <summary>
/// The manager's request that a relay wake one host on the relay's own network (a broadcast does not cross routers, so the
/// manager cannot reach it): which relay sends, which host, its MAC address, where the packet goes, and until when the
/// request stands. Signed by the manager's key (<see cref="SignedWakeOrder"/>), so that no relay on the way can aim it at
/// another relay or another address, and a copy cannot be replayed after it expired.
/// </summary>
public sealed record WakeOrder(
    Guid OrderId,
    Guid RelayId,
    Guid HostId,
    string HostName,
    string MacAddress,
    string BroadcastAddress,
    int Port,
    DateTime ExpiresAt)
{
    /// <summary>How long a relay acts on an order: a host woken later than this would miss the distribution it was woken for.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);
}

/// <summary>A <see cref="WakeOrder"/> as the manager signed it: the JSON text and its signature.</summary>
public sealed record SignedWakeOrder(string Order, string Signature)
{
    /// <summary>
    /// The order when it is signed by one of <paramref name="trustedKeys"/>, names <paramref name="relayId"/> as its sender,
    /// has not expired at <paramref name="now"/> and is well formed; else null and why in <paramref name="refusal"/>.
    /// </summary>
    public WakeOrder? Verify(IReadOnlyCollection<string> trustedKeys, Guid relayId, DateTime now, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(trustedKeys);
        refusal = null;
        if (!trustedKeys.Any(key => ManifestSigner.Verify(key, Order ?? "", Signature ?? "")))
        {
            refusal = "it is not signed by a manager key this relay trusts";
            return null;
        }
        WakeOrder? order;
        try
        {
            order = JsonSerializer.Deserialize<WakeOrder>(Order!, ProtocolJson.Strict);
        }
        catch (JsonException e)
        {
            refusal = $"it cannot be read ({e.Message})";
            return null;
        }
        refusal = order is null ? "it is empty"
            : order.RelayId != relayId ? $"it is for relay {order.RelayId}, not this one"
            : order.ExpiresAt + SignedWork.ClockSkew < now ? $"it expired at {order.ExpiresAt:u}"
            : MagicPacket.ParseMac(order.MacAddress) is null ? $"'{order.MacAddress}' is not a MAC address"
            : !IPAddress.TryParse(order.BroadcastAddress, out _) ? $"'{order.BroadcastAddress}' is not an IP address"
            : order.Port is < 1 or > 65535 ? $"port {order.Port} is out of range"
            : null;
        return refusal is null ? order : null;
    }
}
