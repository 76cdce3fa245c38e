using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistHost: forgets a host and its status; refused while it has unfinished work unless -Force.</summary>
[Cmdlet(VerbsCommon.Remove, "DistHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistHostCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName")]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] Name { get; set; } = [];

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess($"host '{name}'", "Remove"))
            {
                TryRun(token => Services.Hosts.RemoveAsync(name, Force, token), name);
            }
        }
    }
}
