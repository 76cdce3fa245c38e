using JP1Dist.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Once a second, renews the quiet hosts whose quiet time is about to end with one look at all of them
/// (<see cref="Core.Distribution.DistributionService.RenewQuietAsync"/>), instead of a look by each host's next poll: at
/// 10,000 idle agents that was 80 looks a second. A host the look finds something for has its poll woken. A renewal that
/// fails is logged once until one succeeds again; the hosts it did not renew look at their next poll, as before.
/// </summary>
internal sealed class QuietRenewal(DistEngine engine, ILogger<QuietRenewal> logger) : BackgroundService
{
    /// <summary>How often quiet hosts are renewed.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>How long before its quiet time ends a host is renewed: several turns, so a slow or failed one is made up.</summary>
    public static readonly TimeSpan Ahead = TimeSpan.FromSeconds(5);

    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, engine.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await engine.Distribution.RenewQuietAsync(Ahead, stoppingToken);
                    _failing = false;
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // Never thrown on: a background service that throws stops the manager.
                    if (!_failing)
                    {
                        _failing = true;
                        logger.LogWarning(e, "Renewing the quiet hosts failed; their polls look at the database until a renewal succeeds");
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
