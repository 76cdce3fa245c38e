using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Get-DistInventory: the hardware and software facts of hosts; with -Software, one object per matching installed
/// package, so that "which hosts have X below version Y" is one command (-Software 'X&lt;Y').
/// </summary>
[Cmdlet(VerbsCommon.Get, "DistInventory")]
[OutputType(typeof(DistInventory), typeof(DistSoftware))]
public sealed class GetDistInventoryCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name", "ComputerName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? HostName { get; set; }

    /// <summary>A software name (wildcards allowed) with an optional version range, such as 'openssl&lt;3.0'.</summary>
    [Parameter]
    [SupportsWildcards]
    public string? Software { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var pattern in HostName ?? [null!])
        {
            if (Software is not null)
            {
                WriteObject(Run(token => Services.Inventory.FindSoftwareAsync(Software, pattern, token), Software), enumerateCollection: true);
                continue;
            }
            var inventory = Run(token => Services.Inventory.ListAsync(pattern, token));
            WriteNotFoundUnlessWildcard(pattern, inventory.Count, "HostNotFound", $"No host named '{pattern}' is registered.");
            WriteObject(inventory, enumerateCollection: true);
        }
    }
}
