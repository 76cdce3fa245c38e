using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>Runs the agent as a hosted service, so that it stops cleanly on Ctrl+C, SIGTERM or a service stop.</summary>
public sealed class AgentWorker(AgentOptions options, ILogger<AgentWorker> logger, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => RunAsync(new AgentRuntime(options, logger), logger, lifetime, stoppingToken);

    /// <summary>
    /// Runs an agent runtime until stopped; one that cannot register (no token) stops the process with exit code 2, one
    /// whose credential was revoked with exit code 3, one whose registration was refused with exit code 4. No other
    /// answer of the higher system ends it (<see cref="AgentRuntime.RunAsync"/>).
    /// </summary>
    public static async Task RunAsync(AgentRuntime runtime, ILogger logger, IHostApplicationLifetime lifetime, CancellationToken stoppingToken)
    {
        using (runtime)
        {
            try
            {
                await runtime.RunAsync(stoppingToken);
            }
            catch (CredentialRevokedException e)
            {
                // Revoked or denied: registering again with the token would be refused too (and must not be tried).
                logger.LogCritical("{Message}", e.Message);
                Environment.ExitCode = CredentialRevokedException.ExitCode;
                lifetime.StopApplication();
            }
            catch (EnrollmentRefusedException e)
            {
                logger.LogCritical("{Message}", e.Message);
                Environment.ExitCode = EnrollmentRefusedException.ExitCode;
                lifetime.StopApplication();
            }
            catch (InvalidOperationException e)
            {
                // Not registered and no token: nothing to retry.
                logger.LogError("{Message}", e.Message);
                Environment.ExitCode = Protocol.CommandExitCodes.Usage;
                lifetime.StopApplication();
            }
        }
    }
}
