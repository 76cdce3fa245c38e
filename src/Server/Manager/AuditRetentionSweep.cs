using JP1Dist.Core;
using JP1Dist.Core.Audit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Keeps the audit log to its retention (<see cref="ManagerOptions.AuditRetention"/>): at start and every six hours, entries
/// older than that are archived to the data folder's logs and removed (<see cref="AuditRetention"/>). Only the manager does
/// it, so a log kept on a data folder no manager runs on is not swept.
/// </summary>
internal sealed class AuditRetentionSweep(DistEngine engine, ManagerOptions options, ILogger<AuditRetentionSweep> logger) : BackgroundService
{
    /// <summary>How often the sweep runs: entries pass the retention a little at a time, and a day's worth is never much.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromHours(6);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retention = new AuditRetention(engine);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var removed = await retention.SweepAsync(options.AuditRetention, stoppingToken);
                if (removed > 0)
                {
                    logger.LogInformation("Audit log: {Count} entries older than {Days} days archived to {Folder} and removed",
                        removed, options.AuditRetention.TotalDays, retention.ArchiveFolder);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "The audit log's retention sweep failed; it runs again in {Hours} hours", Interval.TotalHours);
            }
            try
            {
                await Task.Delay(Interval, engine.Time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
