using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>New-DistIdGroup: creates an empty ID group; Set-DistIdGroupPolicy gives it a policy.</summary>
[Cmdlet(VerbsCommon.New, "DistIdGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(DistIdGroup))]
public sealed class NewDistIdGroupCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowNull]
    [AllowEmptyString]
    public string? Description { get; set; }

    protected override void ProcessRecord()
    {
        if (ShouldProcess($"ID group '{Name}'", "Create"))
        {
            WriteObject(Run(token => Services.IdGroups.CreateAsync(Name, Description, token), Name));
        }
    }
}
