using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// What Add- and Remove-DistHostGroupMember share: the whole pipeline gathered into one change (all or nothing),
/// the check that something is named, and ShouldProcess. Each cmdlet declares its parameters itself, so that its
/// file shows its whole parameter list.
/// </summary>
public abstract class HostGroupMembershipCommand : DistCmdlet
{
    private readonly List<string> _hosts = [];
    private readonly List<string> _groups = [];

    protected abstract string TargetGroup { get; }
    protected abstract string[]? RequestedHosts { get; }
    protected abstract string[]? RequestedGroups { get; }

    /// <summary>Whether -PassThru asks for the changed group to be written.</summary>
    protected abstract bool PassThruRequested { get; }

    /// <summary>"Add" or "Remove", for the confirmation text.</summary>
    protected abstract string ActionName { get; }

    /// <summary>The engine call that makes the change.</summary>
    protected abstract Task<DistHostGroup> ChangeAsync(string group, IReadOnlyList<string> hosts, IReadOnlyList<string> groups, CancellationToken cancellationToken);

    protected override void ProcessRecord()
    {
        _hosts.AddRange(RequestedHosts ?? []);
        _groups.AddRange(RequestedGroups ?? []);
    }

    protected override void EndProcessing()
    {
        var hosts = _hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var groups = _groups.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (hosts.Count == 0 && groups.Count == 0)
        {
            ThrowInvalidArgument("HostGroupMemberMissing", "Name at least one host (-HostName) or host group (-MemberGroup).", TargetGroup);
        }
        var what = string.Join(", ", hosts.Select(h => $"host '{h}'").Concat(groups.Select(g => $"group '{g}'")));
        if (ShouldProcess($"host group '{TargetGroup}'", $"{ActionName} {what}"))
        {
            var group = Run(token => ChangeAsync(TargetGroup, hosts, groups, token), TargetGroup);
            if (PassThruRequested)
            {
                WriteObject(group);
            }
        }
    }
}
