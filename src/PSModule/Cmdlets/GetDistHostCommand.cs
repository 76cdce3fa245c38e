using System.Management.Automation;
using JP1Dist.Engine.Domain;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistHost: lists registered hosts, filtered by name (wildcards).</summary>
[Cmdlet(VerbsCommon.Get, "DistHost")]
[OutputType(typeof(DistHost))]
public sealed class GetDistHostCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name ?? [null!])
        {
            var hosts = Run(token => Engine.Hosts.ListAsync(pattern, token));
            WriteNotFoundUnlessWildcard(pattern, hosts.Count, "HostNotFound", $"No host named '{pattern}' is registered.");
            WriteObject(hosts, enumerateCollection: true);
        }
    }
}
