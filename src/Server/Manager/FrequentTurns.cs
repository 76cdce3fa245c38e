using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// A background service that does a short turn of work every <see cref="Interval"/> on the engine's clock for as long as
/// the manager runs, and goes on when a turn fails: the first failure is logged, the next ones only after a turn has
/// succeeded again (at a turn a second, a database away for a minute would otherwise log sixty warnings). Nothing is
/// thrown: a background service that throws stops the manager. For work every few minutes, each failure logged, see
/// <see cref="PeriodicSweep"/>.
/// </summary>
public abstract class FrequentTurns(TimeProvider time, ILogger logger) : BackgroundService
{
    private bool _failing;

    /// <summary>How long from one turn to the next.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>One turn; it throws when it failed.</summary>
    protected abstract Task TurnAsync(CancellationToken cancellationToken);

    /// <summary>Logs the first failure after a success (or since the start).</summary>
    protected abstract void LogFailure(ILogger logger, Exception failure);

    /// <summary>
    /// One turn now, as the loop does it: a failure is logged (once in a run of failures) and not thrown; a turn cut short
    /// by <paramref name="cancellationToken"/> did not fail and is not logged.
    /// </summary>
    protected async Task TryTurnAsync(CancellationToken cancellationToken)
    {
        try
        {
            await TurnAsync(cancellationToken);
            _failing = false;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            if (!_failing)
            {
                _failing = true;
                LogFailure(logger, e);
            }
        }
    }

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // A turn is short and is not cut by the stop: a cut one could leave work shared with others half done (the
                // last-seen times go into a commit shared with agents' reports). The stop ends the wait for the next turn.
                await TryTurnAsync(CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
