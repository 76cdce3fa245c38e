using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Add-DistIdGroupMember: adds hosts to an ID group by hand; they get the group's executed jobs at their next connection.</summary>
[Cmdlet(VerbsCommon.Add, "DistIdGroupMember", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistIdGroup))]
public sealed class AddDistIdGroupMemberCommand : DistCmdlet
{
    private readonly List<string> _hosts = [];

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(IdGroupNameCompleter))]
    public string IdGroup { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [HostNameTransformation]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    [Alias("ComputerName")]
    public string[] HostName { get; set; } = [];

    /// <summary>Writes the changed ID group; without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord() => _hosts.AddRange(HostName);

    protected override void EndProcessing()
    {
        var hosts = _hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (ShouldProcess($"ID group '{IdGroup}'", $"Add {string.Join(", ", hosts)}"))
        {
            var group = Run(token => Services.IdGroups.AddMembersAsync(IdGroup, hosts, token), IdGroup);
            if (PassThru)
            {
                WriteObject(group);
            }
        }
    }
}
