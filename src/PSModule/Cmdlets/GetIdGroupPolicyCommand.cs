using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-IdGroupPolicy: shows the policy (rules) of ID groups.</summary>
[Cmdlet(VerbsCommon.Get, "IdGroupPolicy")]
[OutputType(typeof(DistIdGroupPolicy))]
public sealed class GetIdGroupPolicyCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(IdGroupNameCompleter))]
    public string? IdGroup { get; set; }

    protected override void ProcessRecord()
    {
        var policies = Run(token => Services.IdGroups.GetPoliciesAsync(IdGroup, token));
        WriteNotFoundUnlessWildcard(IdGroup, policies.Count, "IdGroupNotFound", $"No ID group named '{IdGroup}' exists.");
        WriteObject(policies, enumerateCollection: true);
    }
}
