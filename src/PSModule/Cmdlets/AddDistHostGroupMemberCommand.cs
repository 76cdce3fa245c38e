using System.Management.Automation;
using JP1Dist.Engine.Domain;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Add-DistHostGroupMember: adds hosts and nested host groups to a host group (a host may be in many groups; nesting never makes a cycle).</summary>
[Cmdlet(VerbsCommon.Add, "DistHostGroupMember", SupportsShouldProcess = true)]
[OutputType(typeof(DistHostGroup))]
public sealed class AddDistHostGroupMemberCommand : DistCmdlet
{
    private readonly List<string> _hosts = [];
    private readonly List<string> _groups = [];

    [Parameter(Mandatory = true, Position = 0)]
    [Alias("HostGroup")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostGroupNameCompleter))]
    public string Group { get; set; } = "";

    [Parameter(Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [HostNameTransformation]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? HostName { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(HostGroupNameCompleter))]
    public string[]? MemberGroup { get; set; }

    protected override void ProcessRecord()
    {
        // Gather the whole pipeline, so that many piped hosts are one change (all or nothing).
        _hosts.AddRange(HostName ?? []);
        _groups.AddRange(MemberGroup ?? []);
    }

    protected override void EndProcessing()
    {
        var hosts = _hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var groups = _groups.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (hosts.Count == 0 && groups.Count == 0)
        {
            ThrowInvalidArgument("HostGroupMemberMissing", "Name at least one host (-HostName) or host group (-MemberGroup).", Group);
        }
        var what = string.Join(", ", hosts.Select(h => $"host '{h}'").Concat(groups.Select(g => $"group '{g}'")));
        if (ShouldProcess($"host group '{Group}'", $"Add {what}"))
        {
            WriteObject(Run(token => Engine.HostGroups.AddMembersAsync(Group, hosts, groups, token), Group));
        }
    }
}
