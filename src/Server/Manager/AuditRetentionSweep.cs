using JP1Dist.Core;
using JP1Dist.Core.Audit;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Keeps the audit log to its retention (<see cref="ManagerOptions.AuditRetention"/>): at start and every six hours, entries
/// older than that are archived to the data folder's logs and removed (<see cref="AuditRetention"/>). Only the manager does
/// it, so a log kept on a data folder no manager runs on is not swept.
/// </summary>
internal sealed class AuditRetentionSweep(DistEngine engine, ManagerOptions options, ILogger<AuditRetentionSweep> logger) : PeriodicSweep(engine.Time, logger)
{
    private readonly AuditRetention _retention = new(engine);

    /// <summary>How often the sweep runs: entries pass the retention a little at a time, and a day's worth is never much.</summary>
    protected override TimeSpan Interval => TimeSpan.FromHours(6);

    protected override string What => "The audit log's retention sweep";

    protected override async Task SweepAsync(CancellationToken cancellationToken)
    {
        var removed = await _retention.SweepAsync(options.AuditRetention, cancellationToken);
        if (removed > 0)
        {
            logger.LogInformation("Audit log: {Count} entries older than {Days} days archived to {Folder} and removed",
                removed, options.AuditRetention.TotalDays, _retention.ArchiveFolder);
        }
    }
}
