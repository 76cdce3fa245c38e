using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistIdGroup: lists ID groups; -Member lists each member with how (by hand or by policy) and when it joined.</summary>
[Cmdlet(VerbsCommon.Get, "DistIdGroup")]
[OutputType(typeof(DistIdGroup), typeof(DistIdGroupMember))]
public sealed class GetDistIdGroupCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("IdGroup")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(IdGroupNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    /// <summary>Write one object per member instead of one per group.</summary>
    [Parameter]
    public SwitchParameter Member { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name ?? [null!])
        {
            var groups = Run(token => Services.IdGroups.ListAsync(pattern, token));
            WriteNotFoundUnlessWildcard(pattern, groups.Count, "IdGroupNotFound", $"No ID group named '{pattern}' exists.");
            if (Member)
            {
                WriteObject(groups.SelectMany(g => g.Members), enumerateCollection: true);
            }
            else
            {
                WriteObject(groups, enumerateCollection: true);
            }
        }
    }
}
