using JP1Dist.Core;
using JP1Dist.Core.Packaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Removes package uploads nobody has continued for <see cref="PackageUploads.Expiry"/> (a session that was cut off and
/// never came back), with anything they put in the content store without becoming a package: at start, then every
/// <see cref="Interval"/>.
/// </summary>
internal sealed class UploadSweeper(DistEngine engine, ILogger<UploadSweeper> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await engine.Uploads.SweepAsync(stoppingToken) is > 0 and var removed)
                {
                    logger.LogInformation("Removed {Count} package upload(s) nobody continued for {Hours} hours", removed, PackageUploads.Expiry.TotalHours);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Removing expired package uploads failed; trying again in {Minutes} minutes", Interval.TotalMinutes);
            }
            try
            {
                await Task.Delay(Interval, engine.Time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
