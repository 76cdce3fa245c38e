using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistHostGroupMember: removes hosts and nested host groups from a host group.</summary>
[Cmdlet(VerbsCommon.Remove, "DistHostGroupMember", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(DistHostGroup))]
public sealed class RemoveDistHostGroupMemberCommand : HostGroupMembershipCommand
{
    [Parameter(Mandatory = true, Position = 0)]
    [Alias("HostGroup")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostGroupNameCompleter))]
    public string Group { get; set; } = "";

    [Parameter(Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [HostNameTransformation]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    [ValidateNotNullOrEmpty]
    [Alias("ComputerName")]
    public string[]? HostName { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(HostGroupNameCompleter))]
    public string[]? MemberGroup { get; set; }

    /// <summary>Writes the changed host group; without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override string TargetGroup => Group;

    protected override string[]? RequestedHosts => HostName;

    protected override string[]? RequestedGroups => MemberGroup;

    protected override bool PassThruRequested => PassThru;

    protected override string ActionName => "Remove";

    protected override Task<DistHostGroup> ChangeAsync(string group, IReadOnlyList<string> hosts, IReadOnlyList<string> groups, CancellationToken cancellationToken) =>
        Services.HostGroups.RemoveMembersAsync(group, hosts, groups, cancellationToken);
}
