using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Power;
using JP1Dist.Protocol.Signing;
using Xunit;

namespace JP1Dist.Tests.Power;

/// <summary>What an agent acts on as a shutdown order (Stop-DistHost): signed by a key it trusts, for this host, not expired, known.</summary>
public sealed class PowerOrderTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "jp1dist-power-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ManifestSigner _manager;
    private readonly ManifestSigner _relay;
    private static readonly Guid Host = Guid.NewGuid();
    private static readonly DateTime Now = new(2026, 12, 6, 4, 0, 0, DateTimeKind.Utc);

    public PowerOrderTests()
    {
        _manager = ManifestSigner.LoadOrCreate(Path.Combine(_folder, "manager"));
        _relay = ManifestSigner.LoadOrCreate(Path.Combine(_folder, "relay"));
    }

    private static PowerOrder Order(Guid? host = null, DateTime? expires = null, string action = PowerOrder.Shutdown, int grace = 60) =>
        new(Guid.NewGuid(), host ?? Host, action, grace, "Stop-DistHost by alice", expires ?? Now.AddHours(1));

    private static SignedPowerOrder Sign(ManifestSigner key, PowerOrder order)
    {
        var json = JsonSerializer.Serialize(order, ProtocolJson.Options);
        return new SignedPowerOrder(json, key.Sign(json));
    }

    private string Refusal(SignedPowerOrder signed)
    {
        Assert.Null(signed.Verify([_manager.PublicKey], Host, Now, out var refusal));
        return refusal!;
    }

    [Fact]
    public void An_order_the_manager_signed_for_this_host_is_taken()
    {
        var order = Order();
        Assert.Equal(order, Sign(_manager, order).Verify([_manager.PublicKey], Host, Now, out var refusal));
        Assert.Null(refusal);
    }

    [Fact]
    public void An_order_a_relay_made_up_or_aimed_elsewhere_or_replayed_late_is_refused()
    {
        Assert.Contains("not signed by a manager key", Refusal(Sign(_relay, Order())), StringComparison.Ordinal);
        var genuine = Sign(_manager, Order());
        Assert.Contains("not signed", Refusal(genuine with { Order = genuine.Order.Replace("\"graceSeconds\":60", "\"graceSeconds\":0", StringComparison.Ordinal) }), StringComparison.Ordinal);
        Assert.Contains("not this one", Refusal(Sign(_manager, Order(host: Guid.NewGuid()))), StringComparison.Ordinal);
        Assert.Contains("expired", Refusal(Sign(_manager, Order(expires: Now - SignedWork.ClockSkew - TimeSpan.FromSeconds(1)))), StringComparison.Ordinal);
        Assert.Contains("not an action this agent knows", Refusal(Sign(_manager, Order(action: "Format"))), StringComparison.Ordinal);
        Assert.Contains("out of range", Refusal(Sign(_manager, Order(grace: PowerOrder.MaxGraceSeconds + 1))), StringComparison.Ordinal);
        Assert.Contains("cannot be read", Refusal(new SignedPowerOrder("{}", _manager.Sign("{}"))), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _manager.Dispose();
        _relay.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
