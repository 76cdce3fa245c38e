using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Add-DistHostGroupMember: adds hosts and nested host groups to a host group (a host may be in many groups; nesting never makes a cycle).</summary>
[Cmdlet(VerbsCommon.Add, "DistHostGroupMember", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistHostGroup))]
public sealed class AddDistHostGroupMemberCommand : HostGroupMembershipCommand
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

    protected override string ActionName => "Add";

    protected override Task<DistHostGroup> ChangeAsync(string group, IReadOnlyList<string> hosts, IReadOnlyList<string> groups, CancellationToken cancellationToken) =>
        Services.HostGroups.AddMembersAsync(group, hosts, groups, cancellationToken);
}
