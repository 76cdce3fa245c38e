using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Power;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Hosts;

/// <summary>
/// Shutdowns asked of hosts outside any job (Stop-DistHost), decided in one place: the signed order per host, what the
/// agents report of it (taken, done, refused), and how it reads in the status.
/// </summary>
public static class HostPower
{
    /// <summary>Records a signed shutdown order for each host; saved with the caller's changes.</summary>
    public static IReadOnlyList<DistHostPower> Order(DistEngine engine, DistDbContext db, IReadOnlyList<(Guid Id, string Name)> hosts, int graceSeconds)
    {
        var now = engine.Now;
        var key = engine.SigningKeys.Current();
        var results = new List<DistHostPower>(hosts.Count);
        foreach (var (id, name) in hosts)
        {
            var order = new PowerOrder(Guid.NewGuid(), id, PowerOrder.Shutdown, graceSeconds, $"Stop-DistHost by {engine.Caller.Principal}", now + PowerOrder.Lifetime);
            var json = JsonSerializer.Serialize(order, ProtocolJson.Options);
            var row = new PowerOrderRow
            {
                Id = order.OrderId, HostId = id, Action = order.Action, GraceSeconds = graceSeconds, OrderJson = json, Signature = key.Signer.Sign(json),
                RequestedAt = now, ExpiresAt = order.ExpiresAt, State = PowerOrderState.Requested,
                Message = $"Shutdown requested at {now:yyyy-MM-dd HH:mm:ss} UTC (Stop-DistHost, grace {graceSeconds} s); waiting for the agent to take it "
                    + $"(the request stands until {order.ExpiresAt:HH:mm:ss} UTC).",
            };
            db.PowerOrders.Add(row);
            results.Add(View(row, name, now));
        }
        return results;
    }

    /// <summary>An order as the status shows it; one never taken within its lifetime reads Expired.</summary>
    public static DistHostPower View(PowerOrderRow row, string hostName, DateTime now)
    {
        var expired = row.State == PowerOrderState.Requested && row.ExpiresAt <= now;
        return new DistHostPower(hostName, row.Action, expired ? PowerOrderState.Expired : row.State, row.GraceSeconds, row.RequestedAt.AsLocal(),
            row.AskedAt.AsLocal(), row.DoneAt.AsLocal(),
            expired ? $"Shutdown requested at {row.RequestedAt:yyyy-MM-dd HH:mm:ss} UTC expired at {row.ExpiresAt:HH:mm:ss} UTC: no agent took it (the computer was off or unreachable)."
                : row.Message ?? "", row.Id);
    }

    /// <summary>The orders each agent is to find with its work: not yet taken, not expired.</summary>
    internal static readonly QueryRule<DistDbContext, DateTime, IQueryable<PowerOrderRow>> Open = new((db, now) =>
        db.PowerOrders.AsNoTracking().Where(p => p.State == PowerOrderState.Requested && p.ExpiresAt > now));

    /// <summary>
    /// The newest power order of each host, as Get-DistHost's PowerStatus shows it: a shutdown order (Stop-DistHost), or
    /// a wake order a relay was asked to send (<see cref="HostWake.LatestAsync"/>), whichever was asked last.
    /// </summary>
    public static async Task<Dictionary<Guid, string>> LatestAsync(DistDbContext db, DateTime now, CancellationToken cancellationToken)
    {
        var rows = await db.PowerOrders.AsNoTracking().OrderBy(p => p.RequestedAt).ToListAsync(cancellationToken);
        var latest = rows.GroupBy(r => r.HostId).ToDictionary(g => g.Key, g => (At: g.Last().RequestedAt, View(g.Last(), "", now).Message));
        foreach (var (hostId, wake) in await HostWake.LatestAsync(db, now, cancellationToken))
        {
            if (!latest.TryGetValue(hostId, out var shutdown) || shutdown.At < wake.At)
            {
                latest[hostId] = wake;
            }
        }
        return latest.ToDictionary(l => l.Key, l => l.Value.Message);
    }

    /// <summary>
    /// Records what an agent reported of an order (Asked, Done, Refused), by compare-and-set so that a repeat changes
    /// nothing; for a job's -ShutdownAfter the report names the work item, whose target keeps it as its power note. Null
    /// when neither an order nor a target of this host has the id.
    /// </summary>
    public static async Task<ReportResponse?> ReportAsync(DistDbContext db, Guid hostId, ReportRequest report, DateTime now, CancellationToken cancellationToken)
    {
        if (PowerReports.IsWake(report.Status))
        {
            return await HostWake.ReportAsync(db, hostId, report, now, cancellationToken);
        }
        var message = report.Message is { Length: > 2000 } text ? text[..2000] : report.Message;
        var changed = report.Status switch
        {
            PowerReports.Asked => await db.PowerOrders.Where(p => p.Id == report.WorkItemId && p.HostId == hostId && p.State == PowerOrderState.Requested)
                .ExecuteUpdateAsync(s => s.SetProperty(p => p.State, PowerOrderState.Asked).SetProperty(p => p.AskedAt, now).SetProperty(p => p.Message, message), cancellationToken),
            PowerReports.Refused => await db.PowerOrders.Where(p => p.Id == report.WorkItemId && p.HostId == hostId && p.State == PowerOrderState.Requested)
                .ExecuteUpdateAsync(s => s.SetProperty(p => p.State, PowerOrderState.Refused).SetProperty(p => p.AskedAt, now).SetProperty(p => p.Message, message), cancellationToken),
            _ => await db.PowerOrders.Where(p => p.Id == report.WorkItemId && p.HostId == hostId && p.State != PowerOrderState.Done)
                                // Kept after what the agent said when it took the order: the status says when it was asked and when done.
                .ExecuteUpdateAsync(s => s.SetProperty(p => p.State, PowerOrderState.Done).SetProperty(p => p.DoneAt, now)
                    .SetProperty(p => p.Message, p => p.AskedAt == null ? message : p.Message + " " + message), cancellationToken),
        };
        if (changed > 0)
        {
            return new ReportResponse(true, report.Status);
        }
        if (await db.PowerOrders.AsNoTracking().Where(p => p.Id == report.WorkItemId && p.HostId == hostId).Select(p => (PowerOrderState?)p.State)
                .FirstOrDefaultAsync(cancellationToken) is { } state)
        {
            return new ReportResponse(false, state.ToString()); // a repeat: the first report counted
        }
        if (report.Status == PowerReports.Done
            && await db.Targets.Where(t => t.WorkItemId == report.WorkItemId && t.HostId == hostId)
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.PowerNote, message), cancellationToken) > 0)
        {
            return new ReportResponse(true, report.Status);
        }
        return null;
    }
}
