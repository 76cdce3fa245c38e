using JP1Dist.Protocol;
using JP1Dist.Protocol.Versions;

namespace JP1Dist.Protocol.Conditions;

/// <summary>
/// What is known about a host when conditions are checked. A fact that is null is unknown, and the condition that
/// needs it is not decided here: the manager knows what the host registered and last reported (OS, version,
/// architecture, memory, free space per volume, software), the agent knows everything.
/// </summary>
public sealed record ConditionFacts
{
    public string? OS { get; init; }
    public string? OSVersion { get; init; }
    public string? Architecture { get; init; }
    public long? MemoryMB { get; init; }
    /// <summary>Free MiB on the volume of a path; null when unknown.</summary>
    public Func<string, long?>? FreeDiskMB { get; init; }
    /// <summary>Installed software: name → versions (a name can be installed in several versions); null when unknown.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? Software { get; init; }
}

/// <summary>The outcome of checking conditions: met, or the first condition not met with the value found.</summary>
public sealed record ConditionResult(bool Met, string? Condition, string? Message)
{
    public static readonly ConditionResult Pass = new(true, null, null);

    public static ConditionResult Fail(string condition, string message) => new(false, condition, message);
}

/// <summary>Checks install conditions against facts; pure, so the manager's pre-check and the agent share it.</summary>
public static class ConditionEvaluator
{
    /// <summary>
    /// Checks every condition whose fact is known, in a fixed order, and returns the first that fails.
    /// The check program is not run here (it runs only on the agent, after these pass).
    /// </summary>
    public static ConditionResult Evaluate(InstallConditions conditions, ConditionFacts facts, string defaultInstallPath = ".")
    {
        if (conditions.OS is { Count: > 0 } systems && facts.OS is { } os
            && !systems.Any(s => string.Equals(s, os, StringComparison.OrdinalIgnoreCase)))
        {
            return ConditionResult.Fail("OS", $"Condition OS not met: the OS is {os}, the package needs {string.Join(" or ", systems)}.");
        }
        if (conditions.OSVersion is { } osRange && facts.OSVersion is { Length: > 0 } osVersion)
        {
            if (!VersionRange.TryParse(osRange, out var range, out var reason))
            {
                return Unreadable("OSVersion", osRange, reason);
            }
            if (!range.Contains(osVersion))
            {
                return ConditionResult.Fail("OSVersion", $"Condition OSVersion not met: the OS version is {osVersion}, the package needs {osRange}.");
            }
        }
        if (conditions.Architecture is { Count: > 0 } architectures && facts.Architecture is { } architecture
            && !architectures.Any(a => string.Equals(a, architecture, StringComparison.OrdinalIgnoreCase)))
        {
            return ConditionResult.Fail("Architecture", $"Condition Architecture not met: the architecture is {architecture}, the package needs {string.Join(" or ", architectures)}.");
        }
        if (conditions.MinMemoryMB is { } memory && facts.MemoryMB is { } haveMemory && haveMemory < memory)
        {
            return ConditionResult.Fail("MinMemoryMB", $"Condition MinMemoryMB not met: the host has {haveMemory} MB of memory, the package needs {memory} MB.");
        }
        if (conditions.MinFreeDiskMB is { } disk && facts.FreeDiskMB is { } freeOf)
        {
            var path = conditions.InstallPath ?? defaultInstallPath;
            if (freeOf(path) is { } free && free < disk)
            {
                return ConditionResult.Fail("MinFreeDiskMB", $"Condition MinFreeDiskMB not met: {free} MB free on the volume of '{path}', the package needs {disk} MB.");
            }
        }
        if (facts.Software is { } software)
        {
            foreach (var text in conditions.SoftwareInstalled ?? [])
            {
                if (!SoftwareSpec.TryParse(text, out var spec, out var reason))
                {
                    return Unreadable("SoftwareInstalled", text, reason);
                }
                var found = Versions(software, spec);
                if (found.Count == 0)
                {
                    return ConditionResult.Fail("SoftwareInstalled", $"Condition SoftwareInstalled not met: '{spec.Name}' is not installed, the package needs {spec}.");
                }
                if (spec.Range is { } range && !found.Any(range.Contains))
                {
                    return ConditionResult.Fail("SoftwareInstalled", $"Condition SoftwareInstalled not met: '{spec.Name}' {string.Join(", ", found)} is installed, the package needs {spec}.");
                }
            }
            foreach (var text in conditions.SoftwareAbsent ?? [])
            {
                if (!SoftwareSpec.TryParse(text, out var spec, out var reason))
                {
                    return Unreadable("SoftwareAbsent", text, reason);
                }
                var found = Versions(software, spec).Where(v => spec.Range is null || spec.Range.Contains(v)).ToList();
                if (found.Count > 0)
                {
                    return ConditionResult.Fail("SoftwareAbsent", $"Condition SoftwareAbsent not met: '{spec.Name}' {string.Join(", ", found)} is installed, the package needs it absent{(spec.Range is null ? "" : $" in {spec.Range}")}.");
                }
            }
        }
        return ConditionResult.Pass;
    }

    /// <summary>
    /// A condition that cannot be read (written under other rules, or altered) is not met: nothing installs on a
    /// condition nobody could check. Conditions are validated when a package or job is saved, so this is rare.
    /// </summary>
    private static ConditionResult Unreadable(string condition, string text, string reason) =>
        ConditionResult.Fail(condition, $"Condition {condition} '{text}' cannot be checked: {reason}");

    /// <summary>Every installed version of the software the specification names (names compare without regard to case).</summary>
    private static IReadOnlyList<string> Versions(IReadOnlyDictionary<string, IReadOnlyList<string>> software, SoftwareSpec spec)
    {
        if (spec.IsExactName && software.TryGetValue(spec.Name, out var versions))
        {
            return versions;
        }
        return software.Where(p => spec.MatchesName(p.Key)).SelectMany(p => p.Value).ToList();
    }
}
