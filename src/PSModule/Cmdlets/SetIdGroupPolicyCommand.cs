using System.Collections;
using System.Management.Automation;
using JP1Dist.Engine.Domain;
using JP1Dist.Engine.Groups;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Set-IdGroupPolicy: replaces an ID group's policy (rules over host facts) and applies it to every host at once;
/// new hosts are evaluated when they first connect and whenever their facts change.
/// </summary>
[Cmdlet(VerbsCommon.Set, "IdGroupPolicy", SupportsShouldProcess = true)]
[OutputType(typeof(DistIdGroupPolicy))]
public sealed class SetIdGroupPolicyCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Name")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(IdGroupNameCompleter))]
    public string IdGroup { get; set; } = "";

    /// <summary>The rules; a host matches when every entry of one rule matches. An empty list clears the policy.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [AllowEmptyCollection]
    public Hashtable[] Rule { get; set; } = [];

    protected override void ProcessRecord()
    {
        var rules = IdGroupService.RulesFrom(Rule.Select(Unwrap));
        var what = rules.Count == 0 ? "Clear the policy" : $"Set a policy of {rules.Count} rule(s)";
        if (ShouldProcess($"ID group '{IdGroup}'", what))
        {
            WriteObject(Run(token => Engine.IdGroups.SetPolicyAsync(IdGroup, rules, token), IdGroup));
        }
    }

    // Values typed at the prompt may arrive wrapped in PSObject; the engine sees plain values and lists.
    private static Hashtable Unwrap(Hashtable rule)
    {
        var plain = new Hashtable(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry entry in rule)
        {
            var value = entry.Value is PSObject wrapper ? wrapper.BaseObject : entry.Value;
            plain[entry.Key.ToString() ?? ""] = value is IEnumerable items and not string
                ? items.Cast<object?>().Select(v => v is PSObject w ? w.BaseObject : v).ToArray()
                : value;
        }
        return plain;
    }
}
