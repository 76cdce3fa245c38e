using System.Net;
using System.Net.Sockets;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Policies;

/// <summary>An IPv4 or IPv6 network in CIDR notation (10.1.0.0/16, fd00::/8); a bare address is a /32 or /128.</summary>
public sealed class AddressRange
{
    private readonly byte[] _network;
    private readonly int _prefix;
    private readonly AddressFamily _family;

    private AddressRange(string text, byte[] network, int prefix, AddressFamily family)
    {
        Text = text;
        _network = network;
        _prefix = prefix;
        _family = family;
    }

    /// <summary>The range as written.</summary>
    public string Text { get; }

    /// <summary>Parses CIDR notation; a malformed one is a <see cref="DistException"/> (AddressRangeInvalid).</summary>
    public static AddressRange Parse(string text)
    {
        var trimmed = (text ?? "").Trim();
        var slash = trimmed.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? trimmed : trimmed[..slash];
        if (!IPAddress.TryParse(addressText, out var address) || (addressText.Count(c => c == '.') != 3 && !addressText.Contains(':', StringComparison.Ordinal)))
        {
            throw Invalid(text);
        }
        var bytes = address.GetAddressBytes();
        var max = bytes.Length * 8;
        var prefix = max;
        if (slash >= 0 && (!int.TryParse(trimmed[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > max))
        {
            throw Invalid(text);
        }
        return new AddressRange(trimmed, Mask(bytes, prefix), prefix, address.AddressFamily);
    }

    /// <summary>True when the text is an address inside the range (IPv4-mapped IPv6 addresses count as IPv4).</summary>
    public bool Contains(string? address)
    {
        if (!IPAddress.TryParse(address, out var ip))
        {
            return false;
        }
        if (ip.IsIPv4MappedToIPv6 && _family == AddressFamily.InterNetwork)
        {
            ip = ip.MapToIPv4();
        }
        if (ip.AddressFamily != _family)
        {
            return false;
        }
        return Mask(ip.GetAddressBytes(), _prefix).AsSpan().SequenceEqual(_network);
    }

    private static byte[] Mask(byte[] bytes, int prefix)
    {
        var masked = (byte[])bytes.Clone();
        for (var i = 0; i < masked.Length; i++)
        {
            var bits = Math.Clamp(prefix - (i * 8), 0, 8);
            masked[i] &= (byte)(0xFF << (8 - bits));
        }
        return masked;
    }

    private static DistException Invalid(string? text) => new("AddressRangeInvalid", DistErrorKind.InvalidArgument,
        $"'{text}' is not a valid address range: use CIDR notation such as '10.1.0.0/16' or a single address.", text);
}
