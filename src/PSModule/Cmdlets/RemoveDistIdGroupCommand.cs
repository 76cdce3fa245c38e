using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistIdGroup: removes ID groups (not their hosts); refused while a job is executed for the group.</summary>
[Cmdlet(VerbsCommon.Remove, "DistIdGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistIdGroupCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("IdGroup")]
    [ArgumentCompleter(typeof(IdGroupNameCompleter))]
    public string[] Name { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess($"ID group '{name}'", "Remove"))
            {
                TryRun(token => Services.IdGroups.RemoveAsync(name, token), name);
            }
        }
    }
}
