using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Housekeeping the manager runs at start and then every <see cref="Interval"/>: a sweep that fails is logged and runs
/// again at the next turn (it never ends the manager), and stopping the manager ends the wait at once.
/// </summary>
internal abstract class PeriodicSweep(TimeProvider time, ILogger logger) : BackgroundService
{
    /// <summary>How long between two sweeps.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>What the log calls this sweep when it fails.</summary>
    protected abstract string What { get; }

    /// <summary>One sweep.</summary>
    protected abstract Task SweepAsync(CancellationToken cancellationToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "{What} failed; it runs again in {Minutes} minutes", What, Interval.TotalMinutes);
            }
            try
            {
                await Task.Delay(Interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
