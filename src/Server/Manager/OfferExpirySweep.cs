using JP1Dist.Core;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Ends the offers of user-choice jobs whose package has expired, so the status shows Canceled with the expiry instead of
/// Available for ever (the agents drop such offers by the same signed expiry): at start, then every minute.
/// </summary>
internal sealed class OfferExpirySweep(DistEngine engine, ILogger<OfferExpirySweep> logger) : PeriodicSweep(engine.Time, logger)
{
    protected override TimeSpan Interval => TimeSpan.FromMinutes(1);

    protected override string What => "Ending the offers of expired packages";

    protected override async Task SweepAsync(CancellationToken cancellationToken)
    {
        if (await engine.Distribution.EndExpiredOffersAsync(cancellationToken) is > 0 and var ended)
        {
            logger.LogInformation("Ended {Count} user-choice offer(s) whose package expired", ended);
        }
    }
}
