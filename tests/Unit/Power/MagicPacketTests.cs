using System.Net;
using JP1Dist.Core.Hosts;
using JP1Dist.Protocol.Power;
using Xunit;

namespace JP1Dist.Tests.Power;

/// <summary>The magic packet byte for byte, MAC spellings, and the broadcast address a host's reported network gives.</summary>
public sealed class MagicPacketTests
{
    /// <summary>The packet written out by hand: 6 × 0xFF, then the MAC 16 times.</summary>
    public static byte[] Expected(params byte[] mac)
    {
        var bytes = new List<byte>();
        bytes.AddRange(Enumerable.Repeat((byte)0xFF, 6));
        for (var i = 0; i < 16; i++)
        {
            bytes.AddRange(mac);
        }
        return [.. bytes];
    }

    [Fact]
    public void The_packet_is_six_0xFF_then_the_MAC_sixteen_times_in_102_bytes()
    {
        var packet = MagicPacket.Build("52-54-00-AB-cd-0F");
        Assert.Equal(102, packet.Length);
        Assert.Equal(Expected(0x52, 0x54, 0x00, 0xAB, 0xCD, 0x0F), packet);
        Assert.Equal(packet, MagicPacket.Build("52:54:00:ab:cd:0f"));
        Assert.Equal(packet, MagicPacket.Build("525400ABCD0F"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("52-54-00-AB-CD")]
    [InlineData("52-54-00-AB-CD-0F-11")]
    [InlineData("52-54-00-AB-CD-ZZ")]
    [InlineData("00-00-00-00-00-00")]
    public void What_is_not_a_MAC_address_is_refused(string? mac)
    {
        Assert.Null(MagicPacket.ParseMac(mac));
        if (mac is not null)
        {
            Assert.Contains("is not a MAC address", Assert.Throws<ArgumentException>(() => MagicPacket.Build(mac)).Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("192.168.10.23/24", "192.168.10.255")]
    [InlineData("10.1.2.3/8", "10.255.255.255")]
    [InlineData("172.16.5.9/20", "172.16.15.255")]
    [InlineData("192.0.2.7/32", "192.0.2.7")]
    [InlineData("192.0.2.7/0", "255.255.255.255")]
    public void The_broadcast_address_of_a_network(string network, string broadcast) =>
        Assert.Equal(IPAddress.Parse(broadcast), MagicPacket.BroadcastOf(network));

    [Theory]
    [InlineData("192.168.10.23")]
    [InlineData("192.168.10.23/33")]
    [InlineData("fd00::2/64")]
    [InlineData("x/24")]
    public void What_is_not_an_IPv4_network_gives_no_broadcast_address(string network) => Assert.Null(MagicPacket.BroadcastOf(network));

    [Fact]
    public void A_host_is_woken_on_the_first_IPv4_network_it_reported_else_the_limited_broadcast()
    {
        Assert.Equal(IPAddress.Parse("10.20.30.255"), HostWake.BroadcastOf("""["fd00::2/64","10.20.30.40/24","192.168.1.2/24"]"""));
        Assert.Equal(IPAddress.Broadcast, HostWake.BroadcastOf("[]"));
        Assert.Equal(IPAddress.Broadcast, HostWake.BroadcastOf("not json"));
    }
}
