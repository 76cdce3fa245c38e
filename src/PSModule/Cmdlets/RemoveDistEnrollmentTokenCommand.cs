using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistEnrollmentToken: a removed token admits nothing from then on; hosts it admitted stay enrolled.</summary>
[Cmdlet(VerbsCommon.Remove, "DistEnrollmentToken", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistEnrollmentTokenCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    public int[] Id { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (ShouldProcess($"enrollment token {id}", "Remove"))
            {
                TryRun(token => Services.Hosts.RemoveEnrollmentTokenAsync(id, token), id);
            }
        }
    }
}
