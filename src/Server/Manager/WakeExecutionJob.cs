using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using Microsoft.Extensions.Logging;
using Quartz;

namespace JP1Dist.Server.Manager;

/// <summary>
/// The Quartz job that fires -WakeLeadMinutes before an execution of a job made with -WakeOnLan and wakes its targets.
/// Idempotent (the execution's WokenAt is set by compare-and-set), so it is built to be recovered like the dispatch.
/// </summary>
public sealed class WakeExecutionJob(DistributionService distribution, ManagerOptions options, ILogger<WakeExecutionJob> logger) : IJob
{
    public const string ExecutionIdKey = "executionId";
    public const string Group = "wake";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var executionId = context.MergedJobDataMap.GetInt(ExecutionIdKey);
        var results = await distribution.WakeExecutionAsync(executionId, options.WakeAddress, options.WakePort, cancellationToken);
        foreach (var result in results)
        {
            logger.Log(result.Outcome is WakeOutcome.Sent or WakeOutcome.AskedOfRelay ? LogLevel.Information : LogLevel.Warning,
                "Execution {ExecutionId}, host {Host}: {Message}", executionId, result.HostName, result.Message);
        }
    }

    /// <summary>The identity of the Quartz job that wakes an execution's targets; one per execution.</summary>
    public static JobKey KeyFor(int executionId) => new($"wake-{executionId}", Group);
}
