using System.Collections;
using System.Globalization;
using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Set-DistIdGroupPolicy (formerly Set-IdGroupPolicy, still an alias): replaces an ID group's policy (rules over host facts) and applies it to every host at once;
/// new hosts are evaluated when they first connect and whenever their facts change.
/// </summary>
[Cmdlet(VerbsCommon.Set, "DistIdGroupPolicy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[Alias("Set-IdGroupPolicy")]
[OutputType(typeof(DistIdGroupPolicy))]
public sealed class SetDistIdGroupPolicyCommand : DistCmdlet
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

    /// <summary>Writes the changed policy; without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var rules = Rule.Select(ToRule).ToList();
        var what = rules.Count == 0 ? "Clear the policy" : $"Set a policy of {rules.Count} rule(s)";
        if (ShouldProcess($"ID group '{IdGroup}'", what))
        {
            var policy = Run(token => Services.IdGroups.SetPolicyAsync(IdGroup, rules, token), IdGroup);
            if (PassThru)
            {
                WriteObject(policy);
            }
        }
    }

    // A value is a string, a number or a list of them; the services take each as text: fact name to its patterns.
    private static IReadOnlyDictionary<string, IReadOnlyList<string>> ToRule(Hashtable rule) =>
        HashtableInput.Unwrap(rule).Cast<DictionaryEntry>().ToDictionary(
            entry => entry.Key.ToString() ?? "",
            entry => (IReadOnlyList<string>)(entry.Value as object?[] ?? [entry.Value]).Select(v => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "").ToList(),
            StringComparer.OrdinalIgnoreCase);
}
