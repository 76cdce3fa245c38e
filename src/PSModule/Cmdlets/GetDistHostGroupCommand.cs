using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistHostGroup: lists host groups with their hosts, nested groups and the number of hosts reached.</summary>
[Cmdlet(VerbsCommon.Get, "DistHostGroup")]
[OutputType(typeof(DistHostGroup))]
public sealed class GetDistHostGroupCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostGroup")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostGroupNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name ?? [null!])
        {
            var groups = Run(token => Services.HostGroups.ListAsync(pattern, token));
            WriteNotFoundUnlessWildcard(pattern, groups.Count, "HostGroupNotFound", $"No host group named '{pattern}' exists.");
            WriteObject(groups, enumerateCollection: true);
        }
    }
}
