using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Start-DistJob: executes a saved job; the manager dispatches it at the job's execution time.</summary>
[Cmdlet(VerbsLifecycle.Start, "DistJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(JobExecutionResult))]
public sealed class StartDistJobCommand : DistCmdlet
{
    private readonly List<string> _jobs = [];

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName", "Job")]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string[] Name { get; set; } = [];

    protected override void ProcessRecord() => _jobs.AddRange(Name);

    /// <summary>Each job once, however many piped objects named it; an error for one job does not stop the others.</summary>
    protected override void EndProcessing()
    {
        foreach (var name in _jobs.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (ShouldProcess($"job '{name}'", "Execute"))
            {
                JobExecutionResult? result = null;
                if (TryRun(async token => result = await Services.Jobs.StartAsync(name, token), name) && result is not null)
                {
                    WriteObject(result);
                }
            }
        }
    }
}
