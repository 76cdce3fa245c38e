using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistIdGroupPolicy: shows the policy (rules) of ID groups. Get-IdGroupPolicy, its former name, is an alias.</summary>
[Cmdlet(VerbsCommon.Get, "DistIdGroupPolicy")]
[Alias("Get-IdGroupPolicy")]
[OutputType(typeof(DistIdGroupPolicy))]
public sealed class GetDistIdGroupPolicyCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(IdGroupNameCompleter))]
    public string[]? IdGroup { get; set; }

    protected override void ProcessRecord() =>
        WriteMatches(IdGroup, (pattern, token) => Services.IdGroups.GetPoliciesAsync(pattern, token), p => p.IdGroup.ToUpperInvariant(),
            "IdGroupNotFound", name => $"No ID group named '{name}' exists.");
}
