using JP1Dist.Core.Distribution;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Turns executions that cmdlets recorded into Quartz triggers: at once when nudged, and on a short
/// sweep otherwise. Managers are the only processes that write Quartz's tables.
/// </summary>
/// <remarks>
/// A dispatch survives the manager's death at any instant: before its trigger exists the execution is still unscheduled;
/// a trigger that was firing is recovered by Quartz (the job requests recovery); and at start and every
/// <see cref="RecoveryInterval"/> the sweeper schedules again any execution that is scheduled, not dispatched, and has
/// no trigger any more. Dispatching is idempotent, so a second run queues nothing twice.
/// <para>
/// Several manager nodes on one PostgreSQL database each run a sweeper: both may find the same new execution. Its trigger
/// and job have one key per execution (<see cref="DispatchExecutionJob.KeyFor"/>), so the second to schedule it is told it
/// exists (ObjectAlreadyExistsException, under Quartz's cluster lock) and leaves it; marking it scheduled is a
/// compare-and-set; and should both triggers exist one after the other (the first fired and was gone before the second
/// node looked), the dispatch's own claim on the execution makes the second firing do nothing.
/// </para>
/// </remarks>
public sealed class IntentSweeper(
    DistributionService distribution,
    ISchedulerFactory schedulerFactory,
    ManagerOptions options,
    ILogger<IntentSweeper> logger) : BackgroundService
{
    private readonly SemaphoreSlim _nudge = new(0, 1);
    private DateTime _lastRecovery = DateTime.MinValue;

    /// <summary>How often scheduled, undispatched executions are checked for a lost trigger (and once at start).</summary>
    public static readonly TimeSpan RecoveryInterval = TimeSpan.FromSeconds(30);

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
            if (await ScheduleAsync(scheduler, execution, cancellationToken) is { } startAt)
            {
                logger.LogInformation("Scheduled execution {ExecutionId} of job {JobId} for {StartAt:u}", execution.Id, execution.JobId, startAt);
            }
            await distribution.MarkScheduledAsync(execution.Id, cancellationToken);
        }
        if (DateTime.UtcNow - _lastRecovery >= RecoveryInterval)
        {
            foreach (var execution in await distribution.GetUndispatchedAsync(cancellationToken))
            {
                if (await ScheduleAsync(scheduler, execution, cancellationToken) is { } startAt)
                {
                    logger.LogWarning("Execution {ExecutionId} of job {JobId} was scheduled but never dispatched, and its trigger is gone "
                        + "(the manager stopped while dispatching it); scheduled again for {StartAt:u}", execution.Id, execution.JobId, startAt);
                }
            }
            _lastRecovery = DateTime.UtcNow;
        }
    }

    /// <summary>Creates the execution's trigger unless it exists; when it fires (at once when its time has passed). Null when it existed.</summary>
    private static async Task<DateTimeOffset?> ScheduleAsync(IScheduler scheduler, JobExecutionRow execution, CancellationToken cancellationToken)
    {
        await ScheduleWakeAsync(scheduler, execution, cancellationToken);
        var key = DispatchExecutionJob.KeyFor(execution.Id);
        if (await scheduler.Exists(key, cancellationToken))
        {
            return null;
        }
        var job = JobBuilder.Create<DispatchExecutionJob>()
            .WithIdentity(key)
            .UsingJobData(DispatchExecutionJob.ExecutionIdKey, execution.Id)
            // Run again after a manager that died while running it starts again (safe: dispatching is idempotent).
            .RequestRecovery()
            .Build();
        var startAt = execution.ExecuteAt is { } at ? new DateTimeOffset(at, TimeSpan.Zero) : DateTimeOffset.UtcNow;
        var trigger = TriggerBuilder.Create()
            .WithIdentity($"execution-{execution.Id}", DispatchExecutionJob.Group)
            .ForJob(key)
            .StartAt(startAt)
            // A manager that was down at the execution time fires it as soon as it starts.
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
        try
        {
            await scheduler.ScheduleJob(job, trigger, default, cancellationToken);
        }
        catch (ObjectAlreadyExistsException)
        {
            // It came back between the check and now (Quartz's own recovery, or another manager node scheduled it): that trigger does the work.
            return null;
        }
        return startAt;
    }

    /// <summary>
    /// For an execution of a job made with -WakeOnLan that has not woken its targets yet: the trigger that wakes them at its
    /// wake time (at once when that has passed), unless it exists.
    /// </summary>
    private static async Task ScheduleWakeAsync(IScheduler scheduler, JobExecutionRow execution, CancellationToken cancellationToken)
    {
        if (execution.WakeAt is not { } wakeAt || execution.WokenAt is not null)
        {
            return;
        }
        var key = WakeExecutionJob.KeyFor(execution.Id);
        if (await scheduler.Exists(key, cancellationToken))
        {
            return;
        }
        var job = JobBuilder.Create<WakeExecutionJob>().WithIdentity(key).UsingJobData(WakeExecutionJob.ExecutionIdKey, execution.Id).RequestRecovery().Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity($"wake-{execution.Id}", WakeExecutionJob.Group)
            .ForJob(key)
            .StartAt(new DateTimeOffset(wakeAt, TimeSpan.Zero))
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
        try
        {
            await scheduler.ScheduleJob(job, trigger, default, cancellationToken);
        }
        catch (ObjectAlreadyExistsException)
        {
            // Quartz's own recovery, or another manager node, made it meanwhile: that trigger wakes them.
        }
    }
}
