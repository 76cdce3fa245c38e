using JP1Dist.Core;
using JP1Dist.Core.Packaging;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Removes package uploads nobody has continued for <see cref="PackageUploads.Expiry"/> (a session that was cut off and
/// never came back), with anything they put in the content store without becoming a package: at start, then every ten
/// minutes.
/// </summary>
internal sealed class UploadSweeper(DistEngine engine, ILogger<UploadSweeper> logger) : PeriodicSweep(engine.Time, logger)
{
    protected override TimeSpan Interval => TimeSpan.FromMinutes(10);

    protected override string What => "Removing expired package uploads";

    protected override async Task SweepAsync(CancellationToken cancellationToken)
    {
        if (await engine.Uploads.SweepAsync(cancellationToken) is > 0 and var removed)
        {
            logger.LogInformation("Removed {Count} package upload(s) nobody continued for {Hours} hours", removed, PackageUploads.Expiry.TotalHours);
        }
    }
}
