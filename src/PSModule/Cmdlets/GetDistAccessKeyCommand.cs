using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistAccessKey: lists access keys (never their text) with their roles, expiry and last use.</summary>
[Cmdlet(VerbsCommon.Get, "DistAccessKey")]
[OutputType(typeof(DistAccessKey))]
public sealed class GetDistAccessKeyCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(AccessKeyNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name ?? [null!])
        {
            var keys = Run(token => Services.AccessKeys.ListAsync(pattern, token));
            WriteNotFoundUnlessWildcard(pattern, keys.Count, "AccessKeyNotFound", $"No access key named '{pattern}' exists.");
            WriteObject(keys, enumerateCollection: true);
        }
    }
}
