using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Engine.Agent;

/// <summary>Runs the agent as a hosted service, so that it stops cleanly on Ctrl+C, SIGTERM or a service stop.</summary>
public sealed class AgentWorker(AgentOptions options, ILogger<AgentWorker> logger, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var runtime = new AgentRuntime(options, logger);
        try
        {
            await runtime.RunAsync(stoppingToken);
        }
        catch (InvalidOperationException e)
        {
            // Not registered and no token: nothing to retry.
            logger.LogError("{Message}", e.Message);
            Environment.ExitCode = 2;
            lifetime.StopApplication();
        }
    }
}
