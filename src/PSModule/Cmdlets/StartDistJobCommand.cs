using System.Management.Automation;
using JP1Dist.Engine.Jobs;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Start-DistJob: executes a saved job; the manager dispatches it at the job's execution time.</summary>
[Cmdlet(VerbsLifecycle.Start, "DistJob", SupportsShouldProcess = true)]
[OutputType(typeof(JobExecutionResult))]
public sealed class StartDistJobCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName")]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string[] Name { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess($"job '{name}'", "Execute"))
            {
                WriteObject(Run(token => Engine.Jobs.StartAsync(name, token), name));
            }
        }
    }
}
