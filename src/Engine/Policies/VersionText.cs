namespace JP1Dist.Engine.Policies;

/// <summary>
/// Compares version strings the way package managers do, closely enough for policies and queries:
/// runs of digits compare as numbers, other runs compare without regard to case, and separators
/// (. - _ + : ~) only split. "10.0.19045" &gt; "10.0.9"; "1.2" = "1.2.0"; "2.3-4ubuntu1" &gt; "2.3-4".
/// </summary>
public static class VersionText
{
    /// <summary>Negative, zero or positive as <paramref name="a"/> sorts before, with or after <paramref name="b"/>.</summary>
    public static int Compare(string a, string b)
    {
        var x = Split(a);
        var y = Split(b);
        for (var i = 0; i < Math.Max(x.Count, y.Count); i++)
        {
            // A missing part counts as zero against a number (1.2 = 1.2.0) and sorts first against text (2.3-4 < 2.3-4ubuntu1).
            if (i >= x.Count && !char.IsDigit(y[i][0]))
            {
                return -1;
            }
            if (i >= y.Count && !char.IsDigit(x[i][0]))
            {
                return 1;
            }
            var p = i < x.Count ? x[i] : "0";
            var q = i < y.Count ? y[i] : "0";
            var c = ComparePart(p, q);
            if (c != 0)
            {
                return c;
            }
        }
        return 0;
    }

    /// <summary>True when the text holds at least one digit and only letters, digits and separators, so it can be compared.</summary>
    public static bool IsVersion(string? text) => !string.IsNullOrWhiteSpace(text) && text.Any(char.IsDigit)
        && text.All(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or '+' or ':' or '~');

    private static int ComparePart(string p, string q)
    {
        var pn = char.IsDigit(p[0]);
        var qn = char.IsDigit(q[0]);
        if (pn && qn)
        {
            var pt = p.TrimStart('0');
            var qt = q.TrimStart('0');
            return pt.Length != qt.Length ? pt.Length.CompareTo(qt.Length) : string.CompareOrdinal(pt, qt);
        }
        if (pn != qn)
        {
            return pn ? 1 : -1; // 1.2.1 > 1.2.beta
        }
        return string.Compare(p, q, StringComparison.OrdinalIgnoreCase);
    }

    private static List<string> Split(string text)
    {
        var parts = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            if (!char.IsLetterOrDigit(text[i]))
            {
                i++;
                continue;
            }
            var digit = char.IsDigit(text[i]);
            var start = i;
            while (i < text.Length && char.IsLetterOrDigit(text[i]) && char.IsDigit(text[i]) == digit)
            {
                i++;
            }
            parts.Add(text[start..i]);
        }
        // Trailing zeros do not change a version: 1.2.0 == 1.2.
        while (parts.Count > 1 && parts[^1].All(c => c == '0'))
        {
            parts.RemoveAt(parts.Count - 1);
        }
        return parts;
    }
}
