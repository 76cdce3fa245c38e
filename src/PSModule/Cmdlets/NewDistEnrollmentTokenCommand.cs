using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>New-DistEnrollmentToken: creates a token that agents present at their first registration.</summary>
[Cmdlet(VerbsCommon.New, "DistEnrollmentToken", SupportsShouldProcess = true)]
[OutputType(typeof(DistEnrollmentToken))]
public sealed class NewDistEnrollmentTokenCommand : DistCmdlet
{
    [Parameter(Position = 0)]
    public string? Description { get; set; }

    protected override void ProcessRecord()
    {
        if (ShouldProcess("a new enrollment token", "Create"))
        {
            WriteObject(Run(token => Services.Hosts.NewEnrollmentTokenAsync(Description, token)));
        }
    }
}
