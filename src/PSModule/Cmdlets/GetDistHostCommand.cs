using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Get-DistHost: lists registered hosts in tree order, filtered by name (wildcards) and by higher system; with -Pending,
/// the registrations that wait for approval instead. A host group or ID group piped in (Get-DistHostGroup G | Get-DistHost) lists
/// the hosts a job to that group reaches: the host group's hosts with its nested groups', the ID group's current members.
/// </summary>
[Cmdlet(VerbsCommon.Get, "DistHost", DefaultParameterSetName = EnrolledSet)]
[OutputType(typeof(DistHost), ParameterSetName = [EnrolledSet])]
[OutputType(typeof(DistPendingHost), ParameterSetName = [PendingSet])]
public sealed class GetDistHostCommand : DistCmdlet
{
    private const string EnrolledSet = "Enrolled";
    private const string PendingSet = "Pending";
    private const string HostGroupSet = "HostGroup";
    private const string IdGroupSet = "IdGroup";

    // A piped group's own Name is not a host name: in the group sets, -Name only filters the group's hosts.
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = EnrolledSet)]
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = PendingSet)]
    [Parameter(Position = 0, ParameterSetName = HostGroupSet)]
    [Parameter(Position = 0, ParameterSetName = IdGroupSet)]
    [Alias("HostName", "ComputerName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <summary>The relay whose lower hosts to list: those directly below it, or at every level with -Recurse.</summary>
    [Parameter(ParameterSetName = EnrolledSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string? HigherSystem { get; set; }

    /// <summary>With -HigherSystem: every host below the relay, at all levels.</summary>
    [Parameter(ParameterSetName = EnrolledSet)]
    public SwitchParameter Recurse { get; set; }

    /// <summary>The registrations waiting for approval (tokens made with -RequireApproval), not the enrolled hosts.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PendingSet)]
    public SwitchParameter Pending { get; set; }

    /// <summary>A host group from Get-DistHostGroup: its hosts, nested groups included (bound by value, like Get-DistPackage -Job).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = HostGroupSet)]
    public DistHostGroup? HostGroup { get; set; }

    /// <summary>An ID group from Get-DistIdGroup: its current members.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = IdGroupSet)]
    public DistIdGroup? IdGroup { get; set; }

    protected override void ProcessRecord()
    {
        if (Pending)
        {
            foreach (var pattern in Name ?? [null!])
            {
                var waiting = Run(token => Services.Hosts.ListPendingAsync(pattern, token), pattern);
                WriteNotFoundUnlessWildcard(pattern, waiting.Count, "PendingHostNotFound", $"No registration of a host named '{pattern}' waits for approval.");
                WriteObject(waiting, enumerateCollection: true);
            }
            return;
        }
        if (Recurse && HigherSystem is null)
        {
            ThrowInvalidArgument("RecurseWithoutHigherSystem", "-Recurse lists every level below a relay; name the relay with -HigherSystem.", null);
        }
        foreach (var pattern in Name ?? [null!])
        {
            var query = new HostQuery(pattern, HigherSystem, Recurse, HostGroup?.Name, IdGroup?.Name);
            var hosts = Run(token => Services.Hosts.ListAsync(query, token), HostGroup?.Name ?? IdGroup?.Name ?? HigherSystem ?? pattern);
            var within = HigherSystem is not null ? $" below '{HigherSystem}'"
                : HostGroup is not null ? $" in host group '{HostGroup.Name}'"
                : IdGroup is not null ? $" in ID group '{IdGroup.Name}'" : "";
            WriteNotFoundUnlessWildcard(pattern, hosts.Count, "HostNotFound", $"No host named '{pattern}' is registered{within}.");
            WriteObject(hosts, enumerateCollection: true);
        }
    }
}
