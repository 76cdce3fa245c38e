using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// What Suspend-DistJob, Resume-DistJob and Stop-DistJob share: a job name and optional hosts, bound by property
/// name from Get-DistJobStatus or Get-DistJob, gathered over the whole pipeline into one action per job.
/// </summary>
public abstract class JobControlCommand : DistCmdlet
{
    private readonly Dictionary<string, HashSet<string>?> _requests = new(StringComparer.OrdinalIgnoreCase);

    // Each cmdlet declares -Name (aliases JobName, Job) and -HostName itself, so that its file shows its whole parameter list.

    /// <summary>The job named by the current pipeline input.</summary>
    protected abstract string RequestedJob { get; }

    /// <summary>The hosts named by the current pipeline input; null means every destination of the job.</summary>
    protected abstract string[]? RequestedHosts { get; }

    /// <summary>Whether -PassThru asks for the changed targets to be written.</summary>
    protected abstract bool PassThruRequested { get; }

    /// <summary>The action this cmdlet takes.</summary>
    protected abstract JobControlAction Action { get; }

    /// <summary>The verb ShouldProcess shows.</summary>
    protected abstract string ActionName { get; }

    protected override void ProcessRecord()
    {
        if (!_requests.TryGetValue(RequestedJob, out var hosts))
        {
            hosts = RequestedHosts is null ? null : new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            _requests[RequestedJob] = hosts;
        }
        if (RequestedHosts is null)
        {
            _requests[RequestedJob] = null;
        }
        else
        {
            hosts?.UnionWith(RequestedHosts);
        }
    }

    protected override void EndProcessing()
    {
        foreach (var (job, hosts) in _requests)
        {
            var what = hosts is null ? $"job '{job}' on every host" : $"job '{job}' on {string.Join(", ", hosts)}";
            if (!ShouldProcess(what, ActionName))
            {
                continue;
            }
            IReadOnlyList<DistJobStatus>? changed = null;
            if (TryRun(async token => changed = await Services.Jobs.ControlAsync(job, hosts, Action, token), job) && changed is not null && PassThruRequested)
            {
                WriteObject(changed, enumerateCollection: true);
            }
        }
    }
}
