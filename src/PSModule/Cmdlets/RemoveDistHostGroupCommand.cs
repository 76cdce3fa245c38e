using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistHostGroup: removes host groups (not their hosts); refused while a job names the group.</summary>
[Cmdlet(VerbsCommon.Remove, "DistHostGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistHostGroupCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostGroup")]
    [ArgumentCompleter(typeof(HostGroupNameCompleter))]
    public string[] Name { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess($"host group '{name}'", "Remove"))
            {
                TryRun(token => Services.HostGroups.RemoveAsync(name, token), name);
            }
        }
    }
}
