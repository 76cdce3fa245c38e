using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Get-DistHost: lists registered hosts in tree order, filtered by name (wildcards) and by higher system; with -Pending,
/// the registrations that wait for approval instead.
/// </summary>
[Cmdlet(VerbsCommon.Get, "DistHost", DefaultParameterSetName = EnrolledSet)]
[OutputType(typeof(DistHost), ParameterSetName = [EnrolledSet])]
[OutputType(typeof(DistPendingHost), ParameterSetName = [PendingSet])]
public sealed class GetDistHostCommand : DistCmdlet
{
    private const string EnrolledSet = "Enrolled";
    private const string PendingSet = "Pending";

    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
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
            var hosts = Run(token => Services.Hosts.ListAsync(new HostQuery(pattern, HigherSystem, Recurse), token), HigherSystem ?? pattern);
            WriteNotFoundUnlessWildcard(pattern, hosts.Count, "HostNotFound",
                HigherSystem is null ? $"No host named '{pattern}' is registered." : $"No host named '{pattern}' is registered below '{HigherSystem}'.");
            WriteObject(hosts, enumerateCollection: true);
        }
    }
}
