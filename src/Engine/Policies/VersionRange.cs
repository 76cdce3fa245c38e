using JP1Dist.Engine.Domain;

namespace JP1Dist.Engine.Policies;

/// <summary>
/// A version range: one or more comparisons that must all hold, separated by spaces or commas, such as
/// <c>&gt;=10.0.19045</c>, <c>&gt;=1.0 &lt;2.0</c>, <c>=1.2</c> or a bare <c>1.2</c> (exactly that version).
/// Operators: &gt;= &lt;= &gt; &lt; = == !=.
/// </summary>
public sealed class VersionRange
{
    private readonly List<(string Op, string Version)> _bounds;

    private VersionRange(string text, List<(string, string)> bounds)
    {
        Text = text;
        _bounds = bounds;
    }

    /// <summary>The range as written.</summary>
    public string Text { get; }

    /// <summary>Parses a range; a malformed one is a <see cref="DistException"/> (VersionRangeInvalid) naming it.</summary>
    public static VersionRange Parse(string text, string what = "version range")
    {
        var parts = (text ?? "").Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var bounds = new List<(string, string)>();
        foreach (var part in parts)
        {
            var op = part.StartsWith(">=", StringComparison.Ordinal) || part.StartsWith("<=", StringComparison.Ordinal)
                     || part.StartsWith("==", StringComparison.Ordinal) || part.StartsWith("!=", StringComparison.Ordinal) ? part[..2]
                : part.StartsWith('>') || part.StartsWith('<') || part.StartsWith('=') ? part[..1]
                : "=";
            var version = part.StartsWith(op, StringComparison.Ordinal) ? part[op.Length..] : part;
            if (!VersionText.IsVersion(version))
            {
                throw Invalid(text, what);
            }
            bounds.Add((op == "==" ? "=" : op, version));
        }
        if (bounds.Count == 0)
        {
            throw Invalid(text, what);
        }
        return new VersionRange(text!.Trim(), bounds);
    }

    /// <summary>True when the version satisfies every comparison.</summary>
    public bool Contains(string? version)
    {
        if (!VersionText.IsVersion(version))
        {
            return false;
        }
        foreach (var (op, bound) in _bounds)
        {
            var c = VersionText.Compare(version!, bound);
            var ok = op switch
            {
                ">=" => c >= 0,
                "<=" => c <= 0,
                ">" => c > 0,
                "<" => c < 0,
                "!=" => c != 0,
                _ => c == 0,
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }

    public override string ToString() => Text;

    private static DistException Invalid(string? text, string what) => new("VersionRangeInvalid", DistErrorKind.InvalidArgument,
        $"'{text}' is not a valid {what}: use comparisons such as '>=10.0.19045', '>=1.0 <2.0' or '1.2'.", text);
}
