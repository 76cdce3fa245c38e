using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>New-DistHostGroup: creates an empty host group.</summary>
[Cmdlet(VerbsCommon.New, "DistHostGroup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(DistHostGroup))]
public sealed class NewDistHostGroupCommand : DistCmdlet
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
        if (ShouldProcess($"host group '{Name}'", "Create"))
        {
            WriteObject(Run(token => Services.HostGroups.CreateAsync(Name, Description, token), Name));
        }
    }
}
