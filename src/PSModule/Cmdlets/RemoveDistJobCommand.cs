using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistJob: removes a saved job and its status; refused while it runs unless -Force.</summary>
[Cmdlet(VerbsCommon.Remove, "DistJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistJobCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName", "Job")]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>
    /// Removes the job even while it has unfinished targets (they are abandoned); without it that is refused with JobActive.
    /// It never prompts and never stands in for -Confirm:$false.
    /// </summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess($"job '{name}'", "Remove"))
            {
                TryRun(token => Services.Jobs.RemoveAsync(name, Force, token), name);
            }
        }
    }
}
