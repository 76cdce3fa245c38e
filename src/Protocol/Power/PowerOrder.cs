using System.Text.Json;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Protocol.Power;

/// <summary>
/// The manager's instruction to one agent to shut its computer down (Stop-DistHost), outside any job: which host, the
/// grace the agent waits once no install or transfer runs, why, and until when the instruction stands. Signed by the
/// manager's key (<see cref="SignedPowerOrder"/>) and bound to the host, so that no relay or proxy can make up an order,
/// aim one at another computer, or replay it after it expired.
/// </summary>
public sealed record PowerOrder(Guid OrderId, Guid HostId, string Action, int GraceSeconds, string Reason, DateTime ExpiresAt)
{
    /// <summary>The only action an order asks today.</summary>
    public const string Shutdown = "Shutdown";

    /// <summary>How long an order stands: a computer unreachable longer than this is not shut down when it comes back.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    /// <summary>The longest grace an order may ask.</summary>
    public const int MaxGraceSeconds = 3600;
}

/// <summary>A <see cref="PowerOrder"/> as the manager signed it: the JSON text and its signature.</summary>
public sealed record SignedPowerOrder(string Order, string Signature)
{
    /// <summary>
    /// The order when a key in <paramref name="trustedKeys"/> signed it for <paramref name="hostId"/>, it has not expired
    /// at <paramref name="now"/> and asks what an agent knows; else null and why in <paramref name="refusal"/>.
    /// </summary>
    public PowerOrder? Verify(IReadOnlyCollection<string> trustedKeys, Guid hostId, DateTime now, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(trustedKeys);
        if (!trustedKeys.Any(key => ManifestSigner.Verify(key, Order ?? "", Signature ?? "")))
        {
            refusal = "it is not signed by a manager key this agent trusts";
            return null;
        }
        var order = Read(this);
        refusal = order is null ? "it cannot be read"
            : order.HostId != hostId ? $"it is for host {order.HostId}, not this one ({hostId})"
            : order.ExpiresAt + SignedWork.ClockSkew < now ? $"it expired at {order.ExpiresAt:u}"
            : !string.Equals(order.Action, PowerOrder.Shutdown, StringComparison.Ordinal) ? $"'{order.Action}' is not an action this agent knows"
            : order.GraceSeconds is < 0 or > PowerOrder.MaxGraceSeconds ? $"a grace of {order.GraceSeconds} s is out of range"
            : null;
        return refusal is null ? order : null;
    }

    /// <summary>The order read without checking its signature (to route it: the agent it names checks it); null when it cannot be read.</summary>
    public static PowerOrder? Read(SignedPowerOrder? signed)
    {
        try
        {
            return signed?.Order is { } json ? JsonSerializer.Deserialize<PowerOrder>(json, ProtocolJson.Strict) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// What an agent reports about a power request, in a <see cref="ReportRequest"/> whose WorkItemId is the order's id (or,
/// for a job's -ShutdownAfter, its work item): Asked (it took the order and will act once its work is done), Done (the
/// command ran) or Refused (the order did not verify). A relay reports on a <see cref="WakeOrder"/> the same way, by the
/// order's id under its own host id: WakeSent (it sent the magic packet) or WakeFailed (sending failed). These move no
/// target's state, and travel upward through relays like any power report.
/// </summary>
public static class PowerReports
{
    public const string Asked = "PowerAsked";
    public const string Done = "PowerDone";
    public const string Refused = "PowerRefused";
    public const string WakeSent = "WakeSent";
    public const string WakeFailed = "WakeFailed";

    /// <summary>Every one of these, for messages that list them.</summary>
    public static readonly IReadOnlyList<string> All = [Asked, Done, Refused, WakeSent, WakeFailed];

    /// <summary>Whether a report's status is one of these.</summary>
    public static bool Is(string? status) => status is Asked or Done or Refused or WakeSent or WakeFailed;

    /// <summary>Whether a report's status is a relay's report on a wake order.</summary>
    public static bool IsWake(string? status) => status is WakeSent or WakeFailed;
}
