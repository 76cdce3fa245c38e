using JP1Dist.Protocol;

namespace JP1Dist.Protocol.Versions;

/// <summary>
/// A version range: comparisons that must all hold, separated by spaces or commas or simply written one after the
/// other, such as <c>&gt;=10.0 &lt;11</c>, <c>&gt;=1.0, &lt;2.0</c>, <c>&gt;1.0&lt;=2</c> or a bare <c>1.2</c> (exactly that
/// version, by <see cref="VersionComparer"/>). Operators: = == != &gt; &gt;= &lt; &lt;=.
/// </summary>
public sealed class VersionRange
{
    private static readonly string[] Operators = [">=", "<=", "==", "!=", ">", "<", "="];
    private readonly List<(string Operator, string Version)> _bounds;

    private VersionRange(string text, List<(string, string)> bounds)
    {
        Text = text;
        _bounds = bounds;
    }

    /// <summary>The range as written (trimmed).</summary>
    public string Text { get; }

    /// <summary>
    /// Parses a range; a malformed one is a <see cref="DistException"/> (VersionRangeInvalid) that names it as
    /// <paramref name="what"/> and says what is wrong.
    /// </summary>
    public static VersionRange Parse(string? text, string what = "version range") =>
        TryParse(text, out var range, out var reason) ? range : throw new DistException("VersionRangeInvalid", DistErrorKind.InvalidArgument,
            $"'{text}' is not a valid {what}: {reason} Use comparisons such as '>=10.0.19045', '>=1.0 <2.0' or '1.2'.", text);

    /// <summary>Parses a range, or says in <paramref name="reason"/> why the text is not one.</summary>
    public static bool TryParse(string? text, out VersionRange range, out string reason)
    {
        range = new VersionRange("", []);
        var rest = (text ?? "").AsSpan().Trim();
        if (rest.IsEmpty)
        {
            reason = "it is empty.";
            return false;
        }
        var bounds = new List<(string, string)>();
        while (!rest.IsEmpty)
        {
            var written = FindOperator(rest);
            rest = rest[(written?.Length ?? 0)..].TrimStart();
            var end = 0;
            while (end < rest.Length && !char.IsWhiteSpace(rest[end]) && rest[end] != ',' && "<>=!".IndexOf(rest[end]) < 0)
            {
                end++;
            }
            var version = rest[..end].ToString();
            if (version.Length == 0)
            {
                reason = written is null ? $"'{rest}' is neither a version nor an operator (= == != > >= < <=)." : $"a version is missing after '{written}'.";
                return false;
            }
            if (!VersionComparer.IsWellFormed(version))
            {
                reason = $"'{version}' is not a version (digits and letters separated by . - _ + : ~ ^, with at least one digit).";
                return false;
            }
            bounds.Add((written is null or "==" ? "=" : written, version));
            rest = rest[end..].TrimStart(" \t,");
        }
        range = new VersionRange(text!.Trim(), bounds);
        reason = "";
        return true;
    }

    /// <summary>
    /// True when <paramref name="version"/> satisfies every comparison. A version that cannot be compared (null,
    /// empty, no digit at all) satisfies none, not even a != bound: an unknown version is not "anything but 1.0".
    /// </summary>
    public bool Contains(string? version)
    {
        if (!VersionComparer.IsComparable(version))
        {
            return false;
        }
        foreach (var (op, bound) in _bounds)
        {
            var order = VersionComparer.Compare(version!, bound);
            var holds = op switch
            {
                ">=" => order >= 0,
                "<=" => order <= 0,
                ">" => order > 0,
                "<" => order < 0,
                "!=" => order != 0,
                _ => order == 0,
            };
            if (!holds)
            {
                return false;
            }
        }
        return true;
    }

    public override string ToString() => Text;

    private static string? FindOperator(ReadOnlySpan<char> text)
    {
        foreach (var op in Operators)
        {
            if (text.StartsWith(op, StringComparison.Ordinal))
            {
                return op;
            }
        }
        return null;
    }
}
