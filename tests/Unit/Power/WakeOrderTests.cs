using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Power;
using JP1Dist.Protocol.Signing;
using Xunit;

namespace JP1Dist.Tests.Power;

/// <summary>What a relay accepts as a wake order: signed by a key it trusts, for itself, not expired, well formed.</summary>
public sealed class WakeOrderTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "jp1dist-wake-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ManifestSigner _manager;
    private readonly ManifestSigner _other;
    private static readonly Guid Relay = Guid.NewGuid();
    private static readonly DateTime Now = new(2026, 12, 6, 4, 0, 0, DateTimeKind.Utc);

    public WakeOrderTests()
    {
        _manager = ManifestSigner.LoadOrCreate(Path.Combine(_folder, "a"));
        _other = ManifestSigner.LoadOrCreate(Path.Combine(_folder, "b"));
    }

    private static WakeOrder Order(Guid? relay = null, DateTime? expires = null, string mac = "52-54-00-00-00-02", string address = "10.0.0.255", int port = 9) =>
        new(Guid.NewGuid(), relay ?? Relay, Guid.NewGuid(), "pc-below", mac, address, port, expires ?? Now.AddMinutes(10));

    private static SignedWakeOrder Sign(ManifestSigner key, WakeOrder order)
    {
        var json = JsonSerializer.Serialize(order, ProtocolJson.Options);
        return new SignedWakeOrder(json, key.Sign(json));
    }

    [Fact]
    public void An_order_the_manager_signed_for_this_relay_is_accepted()
    {
        var order = Order();
        Assert.Equal(order, Sign(_manager, order).Verify([_manager.PublicKey], Relay, Now, out var refusal));
        Assert.Null(refusal);
    }

    [Fact]
    public void Forged_redirected_expired_and_malformed_orders_are_refused()
    {
        string Refusal(SignedWakeOrder signed)
        {
            Assert.Null(signed.Verify([_manager.PublicKey], Relay, Now, out var refusal));
            return refusal!;
        }
        Assert.Contains("not signed by a manager key", Refusal(Sign(_other, Order())), StringComparison.Ordinal);
        var genuine = Sign(_manager, Order());
        // A relay on the way that changes the address keeps a signature that no longer matches.
        Assert.Contains("not signed", Refusal(genuine with { Order = genuine.Order.Replace("10.0.0.255", "10.9.9.255", StringComparison.Ordinal) }), StringComparison.Ordinal);
        Assert.Contains("not this one", Refusal(Sign(_manager, Order(relay: Guid.NewGuid()))), StringComparison.Ordinal);
        Assert.Contains("expired", Refusal(Sign(_manager, Order(expires: Now - SignedWork.ClockSkew - TimeSpan.FromSeconds(1)))), StringComparison.Ordinal);
        Assert.Contains("not a MAC address", Refusal(Sign(_manager, Order(mac: "nope"))), StringComparison.Ordinal);
        Assert.Contains("not an IP address", Refusal(Sign(_manager, Order(address: "somewhere"))), StringComparison.Ordinal);
        Assert.Contains("out of range", Refusal(Sign(_manager, Order(port: 70000))), StringComparison.Ordinal);
        Assert.Contains("cannot be read", Refusal(new SignedWakeOrder("{}", _manager.Sign("{}"))), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _manager.Dispose();
        _other.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
