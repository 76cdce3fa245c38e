using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace JP1Dist.Protocol;

/// <summary>
/// PowerShell-style wildcard matching, case-insensitive, for name filters, policies and software names: * any run of
/// characters, ? one character, [abc] and [a-c] one of a set, and ` (backtick) before any of them for the character
/// itself ("Tool `[x64`]" is the name "Tool [x64]"). A pattern that is not well formed is refused with
/// WildcardPatternInvalid. Matching runs in time linear in the name (no backtracking), since names come from agents.
/// </summary>
public static class Wildcard
{
    /// <summary>How many compiled patterns are kept: a dispatch checks the same condition for every host.</summary>
    private const int CacheLimit = 512;
    private static readonly ConcurrentDictionary<string, Func<string, bool>> Compiled = new(StringComparer.Ordinal);

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
        if (Compiled.TryGetValue(pattern, out var matcher))
        {
            return matcher;
        }
        Regex regex;
        try
        {
            regex = new Regex(ToRegex(pattern), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Singleline | RegexOptions.NonBacktracking);
        }
        catch (ArgumentException e)
        {
            // A set such as [z-a]: the regular expression refuses it.
            throw Invalid(pattern, e.Message);
        }
        matcher = regex.IsMatch;
        if (Compiled.Count >= CacheLimit)
        {
            Compiled.Clear();
        }
        Compiled[pattern] = matcher;
        return matcher;
    }

    /// <summary>True when the text is a pattern rather than one name: it holds a wildcard character or an escape.</summary>
    public static bool HasWildcard(string? pattern) => pattern is not null && pattern.AsSpan().IndexOfAny("*?[`") >= 0;

    /// <summary>The literal text a pattern's matches all start with (up to its first wildcard character or escape).</summary>
    public static string LiteralPrefix(string pattern)
    {
        var at = pattern.AsSpan().IndexOfAny("*?[`");
        return at < 0 ? pattern : pattern[..at];
    }

    private static string ToRegex(string pattern)
    {
        var regex = new StringBuilder("^", pattern.Length * 2 + 2);
        for (var i = 0; i < pattern.Length; i++)
        {
            switch (pattern[i])
            {
                case '`' when i + 1 < pattern.Length:
                    regex.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                case '*':
                    regex.Append(".*");
                    break;
                case '?':
                    regex.Append('.');
                    break;
                case '[':
                    i = AppendSet(pattern, i, regex);
                    break;
                default:
                    regex.Append(Regex.Escape(pattern[i].ToString()));
                    break;
            }
        }
        return regex.Append(@"\z").ToString();
    }

    /// <summary>Appends the set that opens at <paramref name="open"/> and returns the index of its closing bracket.</summary>
    private static int AppendSet(string pattern, int open, StringBuilder regex)
    {
        regex.Append('[');
        var members = 0;
        for (var i = open + 1; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == ']' && members > 0)
            {
                regex.Append(']');
                return i;
            }
            if (c == '`' && i + 1 < pattern.Length)
            {
                c = pattern[++i];
            }
            else if (c == '-' && members > 0 && i + 1 < pattern.Length && pattern[i + 1] != ']')
            {
                regex.Append('-'); // a range: a-c
                continue;
            }
            // Inside a set only these mean something to a regular expression; letters must stay as they are (\d is not d).
            if (c is '\\' or ']' or '[' or '^' or '-')
            {
                regex.Append('\\');
            }
            regex.Append(c);
            members++;
        }
        throw Invalid(pattern, "'[' opens a set of characters that is not closed; write `[ for the bracket itself.");
    }

    private static DistException Invalid(string pattern, string reason) => new("WildcardPatternInvalid", DistErrorKind.InvalidArgument,
        $"'{pattern}' is not a valid wildcard pattern: {reason}", pattern);
}
