using JP1Dist.Core.Distribution;
using JP1Dist.Core.Managers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Turns executions that cmdlets recorded into Quartz triggers: at once when nudged, and on a short
/// sweep otherwise. The manager is the only process that writes Quartz's tables.
/// </summary>
public sealed class IntentSweeper(
    DistributionService distribution,
    ISchedulerFactory schedulerFactory,
    ManagerOptions options,
    ILogger<IntentSweeper> logger) : BackgroundService
{
    private readonly SemaphoreSlim _nudge = new(0, 1);

    /// <summary>Asks for a sweep now.</summary>
    public void Nudge()
    {
        try
        {
            _nudge.Release();
        }
        catch (SemaphoreFullException)
        {
            // A sweep is already requested.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var scheduler = await schedulerFactory.GetScheduler(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(scheduler, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                logger.LogError(e, "Sweeping for unscheduled executions failed; trying again");
            }
            try
            {
                await _nudge.WaitAsync(options.SweepInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task SweepAsync(IScheduler scheduler, CancellationToken cancellationToken)
    {
        foreach (var execution in await distribution.GetUnscheduledAsync(cancellationToken))
        {
            var key = DispatchExecutionJob.KeyFor(execution.Id);
            if (!await scheduler.Exists(key, cancellationToken))
            {
                var job = JobBuilder.Create<DispatchExecutionJob>()
                    .WithIdentity(key)
                    .UsingJobData(DispatchExecutionJob.ExecutionIdKey, execution.Id)
                    .Build();
                var startAt = execution.ExecuteAt is { } at ? new DateTimeOffset(at, TimeSpan.Zero) : DateTimeOffset.UtcNow;
                var trigger = TriggerBuilder.Create()
                    .WithIdentity($"execution-{execution.Id}", DispatchExecutionJob.Group)
                    .ForJob(key)
                    .StartAt(startAt)
                    // A manager that was down at the execution time fires it as soon as it starts.
                    .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
                    .Build();
                await scheduler.ScheduleJob(job, trigger, default, cancellationToken);
                logger.LogInformation("Scheduled execution {ExecutionId} of job {JobId} for {StartAt:u}", execution.Id, execution.JobId, startAt);
            }
            await distribution.MarkScheduledAsync(execution.Id, cancellationToken);
        }
    }
}
