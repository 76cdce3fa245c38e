using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Restart-DistJob: re-executes a job for the hosts where it failed (all of them, or those named or piped
/// from Get-DistJobStatus). Hosts that succeeded are never re-installed.
/// </summary>
[Cmdlet(VerbsLifecycle.Restart, "DistJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(JobExecutionResult))]
public sealed class RestartDistJobCommand : DistCmdlet
{
    private readonly Dictionary<string, HashSet<string>?> _requests = new(StringComparer.OrdinalIgnoreCase);

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName", "Job")]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The failed hosts to re-execute; all failed hosts of the job when omitted.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    [ValidateNotNullOrEmpty]
    [Alias("ComputerName")]
    public string[]? HostName { get; set; }

    protected override void ProcessRecord()
    {
        // Gather the whole pipeline first, so that many piped hosts become one re-execution per job.
        if (!_requests.TryGetValue(Name, out var hosts))
        {
            hosts = HostName is null ? null : new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            _requests[Name] = hosts;
        }
        if (HostName is null)
        {
            _requests[Name] = null;
        }
        else
        {
            hosts?.UnionWith(HostName);
        }
    }

    protected override void EndProcessing()
    {
        foreach (var (job, hosts) in _requests)
        {
            var what = hosts is null ? $"failed hosts of job '{job}'" : $"job '{job}' on {string.Join(", ", hosts)}";
            if (!ShouldProcess(what, "Re-execute"))
            {
                continue;
            }
            JobExecutionResult? result = null;
            if (TryRun(async token => result = await Services.Jobs.RestartAsync(job, hosts, token), job) && result is not null)
            {
                WriteObject(result);
            }
        }
    }
}
