using System.Globalization;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Versions;

namespace JP1Dist.Core.Policies;

/// <summary>
/// One rule of an ID group policy: fact names mapped to patterns. A host matches the rule when every entry
/// matches. A list of patterns for one fact matches when any does, except SoftwareInstalled and
/// SoftwareAbsent, where every listed package must be installed (absent).
/// </summary>
public sealed class PolicyRule
{
    /// <summary>The fact names a rule may use, with what their patterns are.</summary>
    public static readonly IReadOnlyDictionary<string, string> Facts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["HostName"] = "wildcard pattern",
        ["IPAddress"] = "CIDR range or single address",
        ["MacAddress"] = "wildcard pattern",
        ["OS"] = "wildcard pattern",
        ["OSVersion"] = "version range",
        ["Architecture"] = "wildcard pattern",
        ["HostGroup"] = "host group name (wildcards allowed); nested membership counts",
        ["MinMemoryMB"] = "number",
        ["MinCpuCount"] = "number",
        ["SoftwareInstalled"] = "software name with optional version range",
        ["SoftwareAbsent"] = "software name with optional version range",
    };

    private readonly List<Func<HostFactSet, bool>> _tests;

    private PolicyRule(IReadOnlyDictionary<string, IReadOnlyList<string>> conditions, List<Func<HostFactSet, bool>> tests)
    {
        Conditions = conditions;
        _tests = tests;
    }

    /// <summary>The rule as stored: canonical fact name to its pattern(s).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Conditions { get; }

    /// <summary>True when the rule looks at installed software.</summary>
    public bool UsesSoftware => Conditions.Keys.Any(k => k.StartsWith("Software", StringComparison.Ordinal));

    /// <summary>True when the rule looks at host group membership.</summary>
    public bool UsesHostGroups => Conditions.ContainsKey("HostGroup");

    /// <summary>The software patterns the rule uses (to load only what is needed).</summary>
    public IEnumerable<SoftwareSpec> SoftwarePatterns => Conditions
        .Where(c => c.Key.StartsWith("Software", StringComparison.Ordinal)).SelectMany(c => c.Value).Select(SoftwareSpec.Parse);

    /// <summary>True when the host satisfies every entry.</summary>
    public bool Matches(HostFactSet host)
    {
        foreach (var test in _tests)
        {
            if (!test(host))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Compiles a rule. An unknown fact name (PolicyFactUnknown), an empty rule (PolicyRuleEmpty) or a malformed
    /// pattern (AddressRangeInvalid, VersionRangeInvalid, PolicyValueInvalid...) is a <see cref="DistException"/> naming it.
    /// </summary>
    public static PolicyRule Compile(IReadOnlyDictionary<string, IReadOnlyList<string>> rule, int index = 0)
    {
        if (rule.Count == 0)
        {
            throw new DistException("PolicyRuleEmpty", DistErrorKind.InvalidArgument, $"Rule {index + 1} has no conditions; a rule needs at least one fact.", index);
        }
        var conditions = new SortedDictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var tests = new List<Func<HostFactSet, bool>>();
        foreach (var (rawName, rawValues) in rule)
        {
            if (!Facts.ContainsKey(rawName ?? ""))
            {
                throw new DistException("PolicyFactUnknown", DistErrorKind.InvalidArgument,
                    $"Rule {index + 1} uses the unknown fact '{rawName}'; known facts are {string.Join(", ", Facts.Keys)}.", rawName);
            }
            var name = Facts.Keys.First(k => string.Equals(k, rawName, StringComparison.OrdinalIgnoreCase));
            var values = rawValues.Select(v => (v ?? "").Trim()).ToList();
            if (values.Count == 0 || values.Any(v => v.Length == 0))
            {
                throw new DistException("PolicyValueInvalid", DistErrorKind.InvalidArgument, $"Rule {index + 1}: the fact '{name}' has an empty pattern.", name);
            }
            conditions[name] = values;
            tests.Add(CompileFact(name, values, index));
        }
        return new PolicyRule(conditions, tests);
    }

    private static Func<HostFactSet, bool> CompileFact(string fact, List<string> values, int index)
    {
        switch (fact)
        {
            case "HostName":
                return AnyText(values, h => [h.Name]);
            case "MacAddress":
                return AnyText(values.Select(v => v.Replace(':', '-')).ToList(), h => h.MacAddresses);
            case "OS":
                return AnyText(values, h => [h.OS]);
            case "Architecture":
                return AnyText(values, h => [h.Architecture]);
            case "HostGroup":
                var groups = values.Select(Wildcard.For).ToList();
                return h => h.HostGroups.Any(g => groups.Any(m => m(g)));
            case "IPAddress":
                var ranges = values.Select(AddressRange.Parse).ToList();
                return h => h.Addresses.Any(a => ranges.Any(r => r.Contains(a)));
            case "OSVersion":
                var versions = values.Select(v => VersionRange.Parse(v, "OSVersion range")).ToList();
                return h => versions.Any(r => r.Contains(h.OSVersion));
            case "MinMemoryMB":
                var memory = Number(fact, values, index);
                return h => h.MemoryMB >= memory;
            case "MinCpuCount":
                var cpus = Number(fact, values, index);
                return h => h.CpuCount >= cpus;
            case "SoftwareInstalled":
                var wanted = values.Select(SoftwareSpec.Parse).ToList();
                return h => wanted.All(p => h.Software.Any(s => p.Matches(s.Name, s.Version)));
            case "SoftwareAbsent":
                var unwanted = values.Select(SoftwareSpec.Parse).ToList();
                return h => unwanted.All(p => !h.Software.Any(s => p.Matches(s.Name, s.Version)));
            default:
                throw new InvalidOperationException($"No matcher for fact {fact}.");
        }
    }

    private static Func<HostFactSet, bool> AnyText(List<string> patterns, Func<HostFactSet, IEnumerable<string>> values)
    {
        var matchers = patterns.Select(Wildcard.For).ToList();
        return h => values(h).Any(v => matchers.Any(m => m(v ?? "")));
    }

    private static long Number(string fact, List<string> values, int index)
    {
        if (values.Count != 1 || !long.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            throw new DistException("PolicyValueInvalid", DistErrorKind.InvalidArgument,
                $"Rule {index + 1}: '{string.Join(", ", values)}' is not a valid value for {fact}; use one whole number.", fact);
        }
        return number;
    }
}

/// <summary>A compiled policy: a host matches when any rule matches.</summary>
public sealed class IdGroupPolicy(IReadOnlyList<PolicyRule> rules)
{
    public IReadOnlyList<PolicyRule> Rules { get; } = rules;

    public bool Matches(HostFactSet host) => Rules.Any(r => r.Matches(host));

    /// <summary>Compiles every rule; the first bad one throws.</summary>
    public static IdGroupPolicy Compile(IReadOnlyList<IReadOnlyDictionary<string, IReadOnlyList<string>>> rules) =>
        new(rules.Select((r, i) => PolicyRule.Compile(r, i)).ToList());

    /// <summary>Reads a policy as stored.</summary>
    public static IdGroupPolicy FromJson(string json) =>
        Compile(System.Text.Json.JsonSerializer.Deserialize<List<Dictionary<string, List<string>>>>(json)!
            .Select(r => (IReadOnlyDictionary<string, IReadOnlyList<string>>)r.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value)).ToList());

    /// <summary>The canonical form stored in the database.</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(Rules.Select(r => r.Conditions.ToDictionary(kv => kv.Key, kv => kv.Value)));
}
