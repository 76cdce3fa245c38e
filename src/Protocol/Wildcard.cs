using System.Text.RegularExpressions;

namespace JP1Dist.Protocol;

/// <summary>PowerShell-style wildcard matching (* ? [abc]), case-insensitive, for name filters.</summary>
public static class Wildcard
{
    /// <summary>A predicate for the pattern; a null or empty pattern matches everything.</summary>
    public static Func<string, bool> For(string? pattern)
    {
        if (string.IsNullOrEmpty(pattern) || pattern == "*")
        {
            return _ => true;
        }
        if (!HasWildcard(pattern))
        {
            return value => string.Equals(value, pattern, StringComparison.OrdinalIgnoreCase);
        }
        var regex = new Regex("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".").Replace(@"\[", "[") + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return regex.IsMatch;
    }

    /// <summary>True when the text holds a wildcard character.</summary>
    public static bool HasWildcard(string? pattern) => pattern is not null && pattern.IndexOfAny(['*', '?', '[']) >= 0;
}
