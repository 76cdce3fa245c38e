namespace JP1Dist.Engine.Conditions;

/// <summary>
/// Compares versions as people and package managers write them: "10.0.19041", "3.0.2-0ubuntu1.10", "1:2.38-4".
/// Runs of digits compare as numbers, other runs as text (case-insensitive); an epoch ("1:") outranks the rest;
/// a missing part counts as zero, so 1.2 equals 1.2.0. The one implementation for the agent and the manager.
/// </summary>
public static class VersionComparer
{
    public static int Compare(string left, string right)
    {
        var (leftEpoch, leftRest) = SplitEpoch(left.Trim());
        var (rightEpoch, rightRest) = SplitEpoch(right.Trim());
        if (leftEpoch != rightEpoch)
        {
            return leftEpoch.CompareTo(rightEpoch);
        }
        var a = Tokens(leftRest);
        var b = Tokens(rightRest);
        for (var i = 0; i < Math.Max(a.Count, b.Count); i++)
        {
            var x = i < a.Count ? a[i] : "0";
            var y = i < b.Count ? b[i] : "0";
            var xNumber = char.IsAsciiDigit(x[0]);
            var yNumber = char.IsAsciiDigit(y[0]);
            int order;
            if (xNumber && yNumber)
            {
                var xt = x.TrimStart('0');
                var yt = y.TrimStart('0');
                order = xt.Length != yt.Length ? xt.Length.CompareTo(yt.Length) : string.CompareOrdinal(xt, yt);
            }
            else if (xNumber != yNumber)
            {
                order = xNumber ? 1 : -1; // 1.0.1 is after 1.0-beta
            }
            else
            {
                order = string.Compare(x, y, StringComparison.OrdinalIgnoreCase);
            }
            if (order != 0)
            {
                return Math.Sign(order);
            }
        }
        return 0;
    }

    private static (long Epoch, string Remainder) SplitEpoch(string version)
    {
        var colon = version.IndexOf(':');
        return colon > 0 && long.TryParse(version[..colon], out var epoch) ? (epoch, version[(colon + 1)..]) : (0, version);
    }

    private static List<string> Tokens(string version)
    {
        var tokens = new List<string>();
        var i = 0;
        while (i < version.Length)
        {
            if (!char.IsLetterOrDigit(version[i]))
            {
                i++;
                continue;
            }
            var start = i;
            var digits = char.IsAsciiDigit(version[i]);
            while (i < version.Length && char.IsLetterOrDigit(version[i]) && char.IsAsciiDigit(version[i]) == digits)
            {
                i++;
            }
            tokens.Add(version[start..i]);
        }
        return tokens;
    }
}

/// <summary>
/// A version range: comparisons separated by spaces or commas, all of which must hold, such as "&gt;=10.0 &lt;11"
/// or "=2.4.1". A bare version means "=". Operators: = == != &gt; &gt;= &lt; &lt;=.
/// </summary>
public sealed class VersionRange
{
    private static readonly string[] Operators = [">=", "<=", "==", "!=", ">", "<", "="];
    private readonly List<(string Operator, string Version)> _parts;

    private VersionRange(List<(string, string)> parts, string text)
    {
        _parts = parts;
        Text = text;
    }

    /// <summary>The range as written.</summary>
    public string Text { get; }

    public static bool TryParse(string text, out VersionRange range, out string error)
    {
        range = new VersionRange([], text);
        error = "";
        var parts = new List<(string, string)>();
        var rest = text.Trim();
        if (rest.Length == 0)
        {
            error = "it is empty.";
            return false;
        }
        while (rest.Length > 0)
        {
            var op = Operators.FirstOrDefault(o => rest.StartsWith(o, StringComparison.Ordinal)) ?? "=";
            rest = rest[(Operators.Contains(op) && rest.StartsWith(op, StringComparison.Ordinal) ? op.Length : 0)..].TrimStart();
            var end = 0;
            while (end < rest.Length && !char.IsWhiteSpace(rest[end]) && rest[end] != ',' && "<>=!".IndexOf(rest[end]) < 0)
            {
                end++;
            }
            var version = rest[..end];
            if (version.Length == 0 || !char.IsLetterOrDigit(version[0]))
            {
                error = $"a version is missing after '{op}'.";
                return false;
            }
            parts.Add((op == "==" ? "=" : op, version));
            rest = rest[end..].TrimStart(' ', '\t', ',');
        }
        range = new VersionRange(parts, text.Trim());
        return true;
    }

    public static VersionRange Parse(string text) =>
        TryParse(text, out var range, out var error) ? range : throw new FormatException($"'{text}' is not a version range: {error}");

    /// <summary>True when <paramref name="version"/> satisfies every comparison.</summary>
    public bool Contains(string version) => _parts.All(p =>
    {
        var order = VersionComparer.Compare(version, p.Version);
        return p.Operator switch
        {
            ">=" => order >= 0,
            "<=" => order <= 0,
            ">" => order > 0,
            "<" => order < 0,
            "!=" => order != 0,
            _ => order == 0,
        };
    });

    public override string ToString() => Text;
}

/// <summary>A software condition: a name, and optionally a version range ("openssl &gt;=3.0", "7-Zip", "curl =8.5.0").</summary>
public sealed record SoftwareSpec(string Name, VersionRange? Range)
{
    public static SoftwareSpec Parse(string text)
    {
        var trimmed = text.Trim();
        var at = trimmed.IndexOfAny(['<', '>', '=', '!']);
        var name = (at < 0 ? trimmed : trimmed[..at]).Trim();
        if (name.Length == 0)
        {
            throw new FormatException("the software name is missing.");
        }
        return new SoftwareSpec(name, at < 0 ? null : VersionRange.Parse(trimmed[at..]));
    }

    public override string ToString() => Range is null ? Name : $"{Name} {Range}";
}
