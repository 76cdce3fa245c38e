using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace JP1Dist.Protocol.Power;

/// <summary>
/// The Wake-on-LAN magic packet, built in one place for every node that sends one (the manager for the hosts it serves, a
/// relay for the hosts on its own network): 6 bytes of 0xFF, then the host's MAC address 16 times, 102 bytes, sent by UDP
/// to a broadcast address (port 9, the discard port, by default).
/// </summary>
public static class MagicPacket
{
    /// <summary>The length of a magic packet.</summary>
    public const int Length = 6 + (16 * 6);

    /// <summary>The port magic packets go to unless told otherwise.</summary>
    public const int DefaultPort = 9;

    /// <summary>The packet that wakes the network card with <paramref name="macAddress"/> (any of 00-11-22-33-44-55, 00:11:22:33:44:55, 001122334455).</summary>
    public static byte[] Build(string macAddress)
    {
        var mac = ParseMac(macAddress) ?? throw new ArgumentException(
            $"'{macAddress}' is not a MAC address: expected six bytes in hex, such as 00-11-22-33-44-55.", nameof(macAddress));
        var packet = new byte[Length];
        packet.AsSpan(0, 6).Fill(0xFF);
        for (var i = 0; i < 16; i++)
        {
            mac.CopyTo(packet.AsSpan(6 + (i * 6), 6));
        }
        return packet;
    }

    /// <summary>The six bytes of a MAC address written with '-', ':' or nothing between the bytes; null when it is not one (or all zero).</summary>
    public static byte[]? ParseMac(string? macAddress)
    {
        if (string.IsNullOrWhiteSpace(macAddress))
        {
            return null;
        }
        var hex = macAddress.Trim().Replace("-", "", StringComparison.Ordinal).Replace(":", "", StringComparison.Ordinal);
        if (hex.Length != 12 || !hex.All(Uri.IsHexDigit))
        {
            return null;
        }
        var bytes = Convert.FromHexString(hex);
        return bytes.All(b => b == 0) ? null : bytes;
    }

    /// <summary>
    /// The broadcast address of the IPv4 network <paramref name="network"/> names ("192.168.10.23/24" gives 192.168.10.255);
    /// null when it is not an IPv4 address with a prefix length of 0 to 32.
    /// </summary>
    public static IPAddress? BroadcastOf(string? network)
    {
        if (network?.Split('/') is not [var address, var prefixText]
            || !IPAddress.TryParse(address, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix > 32)
        {
            return null;
        }
        var value = BitConverter.ToUInt32(ip.GetAddressBytes().Reverse().ToArray());
        var hostBits = prefix == 32 ? 0u : uint.MaxValue >> prefix;
        return new IPAddress(BitConverter.GetBytes(value | hostBits).Reverse().ToArray());
    }

    /// <summary>Sends the packet for <paramref name="macAddress"/> to <paramref name="address"/>:<paramref name="port"/>, broadcast allowed.</summary>
    public static async Task SendAsync(string macAddress, IPAddress address, int port, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        var packet = Build(macAddress);
        using var udp = new UdpClient(address.AddressFamily) { EnableBroadcast = true };
        await udp.SendAsync(packet, new IPEndPoint(address, port), cancellationToken);
    }
}
