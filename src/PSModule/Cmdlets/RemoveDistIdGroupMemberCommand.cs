using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistIdGroupMember: removes hosts from an ID group; their recorded job results stay.</summary>
[Cmdlet(VerbsCommon.Remove, "DistIdGroupMember", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(DistIdGroup))]
public sealed class RemoveDistIdGroupMemberCommand : DistCmdlet
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
        if (ShouldProcess($"ID group '{IdGroup}'", $"Remove {string.Join(", ", hosts)}"))
        {
            var group = Run(token => Services.IdGroups.RemoveMembersAsync(IdGroup, hosts, token), IdGroup);
            if (PassThru)
            {
                WriteObject(group);
            }
        }
    }
}
