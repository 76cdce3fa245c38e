using System.Management.Automation;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// What the client-side cmdlets of user-choice jobs share: they talk to the agent running on this computer over its
/// local-only channel (a Unix socket only the agent's account may use, or on Windows a pipe refused to other accounts and
/// to the network), never to a manager, so they need no connection and no data folder.
/// </summary>
public abstract class AvailablePackageCmdlet : DistCmdlet
{
    /// <summary>The agent's state folder (jp1dist agent --state); by default the one of the agent named after this computer.</summary>
    [Parameter]
    [Alias("State")]
    [ValidateNotNullOrEmpty]
    public string? StatePath { get; set; }

    /// <summary>The state folder in use, resolved against the current file-system location.</summary>
    protected string StateFolder => StatePath is null
        ? AgentStateFolders.Default(Environment.MachineName)
        : SessionState.Path.GetUnresolvedProviderPathFromPSPath(StatePath);

    /// <summary>
    /// Asks the running agent; a terminating error when no agent answers on the state folder or its answer cannot be read
    /// (nothing was changed: an install the agent began goes on there and is reported by it).
    /// </summary>
    protected LocalResponse Ask(LocalRequest request)
    {
        var folder = StateFolder;
        LocalResponse? answer;
        try
        {
            answer = LocalChannelClient.AskAsync(folder, request, StopToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(new ErrorRecord(new IOException($"The agent on this computer (state folder '{folder}') did not answer: {e.Message}", e),
                "AgentChannelFailed", ErrorCategory.ConnectionError, folder));
            throw; // not reached
        }
        if (answer is null)
        {
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                    $"No agent is running on this computer with the state folder '{folder}'. Start it (jp1dist agent), give its folder with -StatePath, "
                    + "or install with 'jp1dist install NAME', which works without a running agent."),
                "AgentNotRunning", ErrorCategory.ResourceUnavailable, folder));
        }
        return answer!;
    }
}
