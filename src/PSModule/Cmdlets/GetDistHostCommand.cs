using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistHost: lists registered hosts in tree order, filtered by name (wildcards) and by higher system.</summary>
[Cmdlet(VerbsCommon.Get, "DistHost")]
[OutputType(typeof(DistHost))]
public sealed class GetDistHostCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>The relay whose lower hosts to list: those directly below it, or at every level with -Recurse.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string? HigherSystem { get; set; }

    /// <summary>With -HigherSystem: every host below the relay, at all levels.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    protected override void ProcessRecord()
    {
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
