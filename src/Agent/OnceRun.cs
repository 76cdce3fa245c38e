using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>
/// `jp1dist agent --once`, the contract of startup scripts and schedulers: does all pending work
/// (<see cref="AgentRuntime.RunOnceAsync"/>) and ends with the exit code of <see cref="CommandExitCodes"/> that says how,
/// logging why. The endings of a running service are the same ones (<see cref="AgentWorker"/>): what the service
/// rides out with its back-off ends a run with <see cref="CommandExitCodes.Unavailable"/>, try again later.
/// </summary>
public static class OnceRun
{
    /// <summary>Runs <paramref name="runtime"/> once; the exit code, by the precedence <see cref="CommandExitCodes"/> documents.</summary>
    public static async Task<int> RunAsync(AgentRuntime runtime, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await runtime.RunOnceAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Stopped before the work was done; exiting with {Code}", CommandExitCodes.Canceled);
            return CommandExitCodes.Canceled;
        }
        catch (CredentialRevokedException e)
        {
            logger.LogCritical("{Message}", e.Message);
            return CommandExitCodes.CredentialRevoked;
        }
        catch (EnrollmentRefusedException e)
        {
            logger.LogCritical("{Message}", e.Message);
            return CommandExitCodes.EnrollmentRefused;
        }
        catch (NotRegisteredException e)
        {
            logger.LogError("{Message}", e.Message);
            return CommandExitCodes.Usage;
        }
        catch (Exception e) when (LocalFault.Of(e) is { } fault)
        {
            // This computer's fault outside any job (a job's own ends that job Failed): an administrator must act.
            logger.LogError("A fault on this computer stopped the run ({Kind}: {Error}); exiting with {Code}", fault.Kind, fault.Message.TrimEnd('.'), CommandExitCodes.Failed);
            return CommandExitCodes.Failed;
        }
        catch (Exception e) when (HigherSystemClient.IsUpwardFailure(e) || e is SigningKeyMismatchException)
        {
            // Unreachable, silent past its deadline, answering what this agent cannot use, or not the one trusted: a
            // service asks again later, and so does the next run. The message names the higher system and what failed.
            logger.LogError("The run stopped at the higher system {Url} ({Error}); exiting with {Code}: try again later, the next run does the work not done",
                (HigherSystemClient.IsTransient(e) || e is CertificatePinMismatchException ? runtime.HigherSystems.LastFailed ?? runtime.HigherSystems.Current : runtime.HigherSystems.Current).GetLeftPart(UriPartial.Authority),
                e.Message.TrimEnd('.'), CommandExitCodes.Unavailable);
            return CommandExitCodes.Unavailable;
        }
        catch (Exception e)
        {
            logger.LogError(e, "The run stopped on an unexpected failure ({Error}); exiting with {Code}", e.Message, CommandExitCodes.Failed);
            return CommandExitCodes.Failed;
        }
        if (runtime.FailedCount > 0)
        {
            logger.LogWarning("The work is done; {Count} work item(s) failed (see above); exiting with {Code}", runtime.FailedCount, CommandExitCodes.Failed);
            return CommandExitCodes.Failed;
        }
        if (runtime.RebootRequired)
        {
            // As msiexec does: the work succeeded, and the computer must restart to finish it.
            logger.LogWarning("An install needs a restart of this computer to finish; exiting with {Code}", CommandExitCodes.RebootRequired);
            return CommandExitCodes.RebootRequired;
        }
        logger.LogInformation("All work there is now is done; exiting with {Code}", CommandExitCodes.Success);
        return CommandExitCodes.Success;
    }
}
