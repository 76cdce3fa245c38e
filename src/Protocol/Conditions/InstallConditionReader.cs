using System.Collections;
using System.Globalization;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Versions;

namespace JP1Dist.Protocol.Conditions;

/// <summary>Reads and validates install conditions given as a hashtable (the cmdlets) or as JSON.</summary>
public static class InstallConditionReader
{
    /// <summary>The names the hashtable of New-DistPackage and New-DistJob accepts.</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        nameof(InstallConditions.MinFreeDiskMB), nameof(InstallConditions.InstallPath), nameof(InstallConditions.MinMemoryMB),
        nameof(InstallConditions.OS), nameof(InstallConditions.OSVersion), nameof(InstallConditions.Architecture),
        nameof(InstallConditions.SoftwareInstalled), nameof(InstallConditions.SoftwareAbsent), nameof(InstallConditions.CheckCommand),
        nameof(InstallConditions.CheckArguments), nameof(InstallConditions.CheckTimeoutSeconds),
    ];

    /// <summary>
    /// Reads conditions from a dictionary (a PowerShell hashtable), validating every key and value: an unknown key,
    /// a negative size or a malformed version range is refused with InstallConditionInvalid, naming it.
    /// </summary>
    public static InstallConditions FromDictionary(IDictionary values)
    {
        var result = new InstallConditions();
        foreach (DictionaryEntry entry in values)
        {
            var key = Keys.FirstOrDefault(k => string.Equals(k, entry.Key?.ToString(), StringComparison.OrdinalIgnoreCase))
                ?? throw Invalid($"'{entry.Key}' is not an install condition; use {string.Join(", ", Keys)}.", entry.Key);
            var value = entry.Value;
            result = key switch
            {
                nameof(InstallConditions.MinFreeDiskMB) => result with { MinFreeDiskMB = Size(key, value) },
                nameof(InstallConditions.MinMemoryMB) => result with { MinMemoryMB = Size(key, value) },
                nameof(InstallConditions.InstallPath) => result with { InstallPath = Text(key, value) },
                nameof(InstallConditions.OS) => result with { OS = List(key, value) },
                nameof(InstallConditions.OSVersion) => result with { OSVersion = Range(key, value) },
                nameof(InstallConditions.Architecture) => result with { Architecture = List(key, value) },
                nameof(InstallConditions.SoftwareInstalled) => result with { SoftwareInstalled = Software(key, value) },
                nameof(InstallConditions.SoftwareAbsent) => result with { SoftwareAbsent = Software(key, value) },
                nameof(InstallConditions.CheckCommand) => result with { CheckCommand = Text(key, value) },
                nameof(InstallConditions.CheckArguments) => result with { CheckArguments = value is null ? [] : Items(value).Select(v => v?.ToString() ?? "").ToArray() },
                nameof(InstallConditions.CheckTimeoutSeconds) => result with { CheckTimeoutSeconds = (int)Math.Min(int.MaxValue, Size(key, value) is var s and > 0 ? s : throw Invalid($"CheckTimeoutSeconds must be at least 1.", value)) },
                _ => result,
            };
        }
        if ((result.CheckArguments is not null || result.CheckTimeoutSeconds is not null) && result.CheckCommand is null)
        {
            throw Invalid("CheckArguments and CheckTimeoutSeconds need a CheckCommand.", null);
        }
        return result;
    }

    /// <summary>Validates conditions that arrived in another form (JSON); the same rules as <see cref="FromDictionary"/>.</summary>
    public static InstallConditions Validate(InstallConditions conditions)
    {
        if (conditions.MinFreeDiskMB < 0 || conditions.MinMemoryMB < 0 || conditions.CheckTimeoutSeconds < 1)
        {
            throw Invalid("Sizes must not be negative and CheckTimeoutSeconds must be at least 1.", conditions);
        }
        if (conditions.OSVersion is not null)
        {
            Range(nameof(conditions.OSVersion), conditions.OSVersion);
        }
        if (conditions.SoftwareInstalled is not null)
        {
            Software(nameof(conditions.SoftwareInstalled), conditions.SoftwareInstalled);
        }
        if (conditions.SoftwareAbsent is not null)
        {
            Software(nameof(conditions.SoftwareAbsent), conditions.SoftwareAbsent);
        }
        return conditions;
    }

    private static DistException Invalid(string message, object? target) =>
        new("InstallConditionInvalid", DistErrorKind.InvalidArgument, message, target);

    private static IEnumerable<object?> Items(object value) => value is string or not IEnumerable ? [value] : ((IEnumerable)value).Cast<object?>();

    private static long Size(string key, object? value)
    {
        try
        {
            var number = Convert.ToInt64(value, CultureInfo.InvariantCulture);
            return number >= 0 ? number : throw Invalid($"{key} must not be negative; it is {number}.", value);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw Invalid($"{key} must be a whole number; '{value}' is not.", value);
        }
    }

    private static string Text(string key, object? value) =>
        value?.ToString() is { Length: > 0 } text && !string.IsNullOrWhiteSpace(text) ? text.Trim() : throw Invalid($"{key} must not be empty.", value);

    private static string[] List(string key, object? value)
    {
        var items = value is null ? [] : Items(value).Select(v => v?.ToString()?.Trim() ?? "").Where(v => v.Length > 0).ToArray();
        return items.Length > 0 ? items : throw Invalid($"{key} must name at least one value.", value);
    }

    private static string Range(string key, object? value)
    {
        var text = Text(key, value);
        if (!VersionRange.TryParse(text, out _, out var error))
        {
            throw Invalid($"{key} '{text}' is not a version range: {error}", value);
        }
        return text;
    }

    private static string[] Software(string key, object? value)
    {
        var items = List(key, value);
        foreach (var item in items)
        {
            if (!SoftwareSpec.TryParse(item, out _, out var reason))
            {
                throw Invalid($"{key} '{item}': {reason}", item);
            }
        }
        return items;
    }
}
