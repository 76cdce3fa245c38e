using JP1Dist.Core;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Once a second, renews the quiet hosts whose quiet time is about to end with one look at all of them
/// (<see cref="Core.Distribution.DistributionService.RenewQuietAsync"/>), instead of a look by each host's next poll: at
/// 10,000 idle agents that was 80 looks a second. A host the look finds something for has its poll woken. A renewal that
/// fails is logged once until one succeeds again; the hosts it did not renew look at their next poll, as before. It also
/// drops the answers a dispatch prepared that no poll here took (<see cref="Core.Distribution.DistributionService.DropUnclaimedAnswers"/>).
/// </summary>
internal sealed class QuietRenewal(DistEngine engine, ILogger<QuietRenewal> logger) : FrequentTurns(engine.Time, logger)
{
    /// <summary>How long before its quiet time ends a host is renewed: several turns, so a slow or failed one is made up.</summary>
    public static readonly TimeSpan Ahead = TimeSpan.FromSeconds(5);

    /// <summary>How often quiet hosts are renewed.</summary>
    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override Task TurnAsync(CancellationToken cancellationToken)
    {
        engine.Distribution.DropUnclaimedAnswers();
        return engine.Distribution.RenewQuietAsync(Ahead, cancellationToken);
    }

    protected override void LogFailure(ILogger logger, Exception failure) =>
        logger.LogWarning(failure, "Renewing the quiet hosts failed; their polls look at the database until a renewal succeeds");
}
