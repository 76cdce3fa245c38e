using JP1Dist.Core.Distribution;
using JP1Dist.Core.Managers;
using Microsoft.Extensions.Logging;
using Quartz;

namespace JP1Dist.Server.Manager;

/// <summary>
/// The Quartz job that fires at an execution's time and queues its targets. Idempotent (the execution is claimed and only
/// Waiting targets move, in one transaction), so it is built to be recovered: a manager that dies while it runs runs it again
/// when it starts, or another manager node of the cluster runs it once the dead one missed its check-ins.
/// </summary>
public sealed class DispatchExecutionJob(DistributionService distribution, ILogger<DispatchExecutionJob> logger) : IJob
{
    public const string ExecutionIdKey = "executionId";
    public const string Group = "dispatch";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var executionId = context.MergedJobDataMap.GetInt(ExecutionIdKey);
        if (await distribution.DispatchOnceAsync(executionId, cancellationToken) is { } outcome)
        {
            logger.LogInformation("Dispatched execution {ExecutionId}: {Count} target(s) queued", executionId, outcome.Queued);
            if (outcome.AnswersFailed is { } failure)
            {
                logger.LogWarning(failure, "Execution {ExecutionId}: preparing the answers of its hosts' polls failed; the polls looked at the database themselves",
                    executionId);
            }
        }
        else
        {
            // Its trigger fired again (scheduled twice by two manager nodes, or recovered): the first firing did the work.
            logger.LogInformation("Execution {ExecutionId} was dispatched already; nothing to do", executionId);
        }
    }

    /// <summary>The identity of the Quartz job for an execution; one per execution, so scheduling twice is detected.</summary>
    public static JobKey KeyFor(int executionId) => new($"execution-{executionId}", Group);
}
