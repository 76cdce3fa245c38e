namespace JP1Dist.Protocol.Versions;

/// <summary>
/// Orders versions as package managers and people write them, the one rule for install conditions, ID group
/// policies, the manager's pre-check and Get-DistInventory -Software:
/// <list type="bullet">
/// <item>An epoch ("1:2.38-4") outranks everything after it; none is epoch 0.</item>
/// <item>The text after the last hyphen is a revision ("2.38-4", "3.0.2-0ubuntu1.10", rpm's release), compared only
/// when the parts before it are equal, so 2.38.1-1 is after 2.38-4 as dpkg says.</item>
/// <item>Within each part, runs of digits compare as numbers and runs of letters as text without regard to case;
/// any other character only separates, except '~', which sorts before everything, the end included (1.0~rc1 &lt; 1.0).</item>
/// <item>A missing run counts as zero against a number (1.2 = 1.2.0, as Windows writes 10.0 and 10.0.0.0), sorts
/// after a pre-release word (dev, alpha, beta, pre, preview, rc: 1.0-beta &lt; 1.0 &lt; 1.0.1) and before other text
/// (1.1.1 &lt; 1.1.1k, 2.3-4 &lt; 2.3-4ubuntu1, as dpkg and rpm order them).</item>
/// <item>A number sorts after text at the same place (1.0.1 &gt; 1.0a), and pre-release words sort among themselves
/// in that order (1.0-alpha &lt; 1.0-beta &lt; 1.0-rc1).</item>
/// </list>
/// Where dpkg and rpm differ from this (both say 1.0.0 is after 1.0), the rule above wins on purpose: an administrator
/// who writes "=1.2" means 1.2.0 too.
/// </summary>
public static class VersionComparer
{
    private static readonly string[] PreReleaseWords = ["dev", "alpha", "beta", "pre", "preview", "rc"];

    /// <summary>Negative, zero or positive as <paramref name="left"/> sorts before, with or after <paramref name="right"/>.</summary>
    public static int Compare(string left, string right)
    {
        Split(left.AsSpan().Trim(), out var leftEpoch, out var leftUpstream, out var leftRevision);
        Split(right.AsSpan().Trim(), out var rightEpoch, out var rightUpstream, out var rightRevision);
        var order = CompareNumbers(leftEpoch, rightEpoch);
        if (order == 0)
        {
            order = CompareRuns(leftUpstream, rightUpstream);
        }
        if (order == 0)
        {
            order = CompareRuns(leftRevision, rightRevision);
        }
        return order;
    }

    /// <summary>True when the text can be compared as a version at all: it holds at least one digit.</summary>
    public static bool IsComparable(string? version) => version is not null && version.AsSpan().IndexOfAnyInRange('0', '9') >= 0;

    /// <summary>
    /// True when the text is a version as an administrator writes one in a range: it starts with a letter or digit,
    /// holds a digit, and uses only letters, digits and the separators . - _ + : ~ ^.
    /// </summary>
    public static bool IsWellFormed(string? version) => !string.IsNullOrEmpty(version) && char.IsLetterOrDigit(version[0])
        && IsComparable(version) && version.All(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or '+' or ':' or '~' or '^');

    private static void Split(ReadOnlySpan<char> version, out ReadOnlySpan<char> epoch, out ReadOnlySpan<char> upstream, out ReadOnlySpan<char> revision)
    {
        epoch = ReadOnlySpan<char>.Empty;
        var colon = version.IndexOf(':');
        if (colon > 0 && !version[..colon].ContainsAnyExceptInRange('0', '9'))
        {
            epoch = version[..colon];
            version = version[(colon + 1)..];
        }
        var hyphen = version.LastIndexOf('-');
        upstream = hyphen > 0 ? version[..hyphen] : version;
        revision = hyphen > 0 ? version[(hyphen + 1)..] : ReadOnlySpan<char>.Empty;
    }

    private static int CompareRuns(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        var a = new Runs(left);
        var b = new Runs(right);
        while (true)
        {
            var x = a.Next();
            var y = b.Next();
            if (x.Kind == RunKind.End && y.Kind == RunKind.End)
            {
                return 0;
            }
            var order = CompareRun(x, y);
            if (order != 0)
            {
                return order;
            }
        }
    }

    private static int CompareRun(Run x, Run y)
    {
        if (x.Kind == RunKind.Tilde || y.Kind == RunKind.Tilde)
        {
            return x.Kind == y.Kind ? 0 : x.Kind == RunKind.Tilde ? -1 : 1;
        }
        if (x.Kind == RunKind.End || y.Kind == RunKind.End)
        {
            // What the longer version has where the shorter one ended decides: its sign is +1 when that is the left one.
            var sign = x.Kind == RunKind.End ? -1 : 1;
            var other = x.Kind == RunKind.End ? y : x;
            return other.Kind switch
            {
                RunKind.Number => sign * CompareNumbers(other.Text, "0"),
                RunKind.PreRelease => -sign,
                _ => sign,
            };
        }
        if (x.Kind != y.Kind)
        {
            // Number after Text after PreRelease, at the same place.
            return x.Kind.CompareTo(y.Kind) < 0 ? -1 : 1;
        }
        return x.Kind switch
        {
            RunKind.Number => CompareNumbers(x.Text, y.Text),
            RunKind.PreRelease when PreReleaseRank(x.Text) != PreReleaseRank(y.Text) => PreReleaseRank(x.Text) < PreReleaseRank(y.Text) ? -1 : 1,
            _ => Math.Sign(x.Text.CompareTo(y.Text, StringComparison.OrdinalIgnoreCase)),
        };
    }

    /// <summary>Compares runs of digits as numbers of any length (no overflow), ignoring leading zeros.</summary>
    private static int CompareNumbers(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        left = left.TrimStart('0');
        right = right.TrimStart('0');
        return left.Length != right.Length ? (left.Length < right.Length ? -1 : 1) : Math.Sign(left.SequenceCompareTo(right));
    }

    private static int PreReleaseRank(ReadOnlySpan<char> word)
    {
        for (var i = 0; i < PreReleaseWords.Length; i++)
        {
            if (word.Equals(PreReleaseWords[i], StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>What a run is; the order of the last three is their order at the same place.</summary>
    private enum RunKind
    {
        End,
        Tilde,
        PreRelease,
        Text,
        Number,
    }

    private readonly ref struct Run(RunKind kind, ReadOnlySpan<char> text)
    {
        public RunKind Kind { get; } = kind;
        public ReadOnlySpan<char> Text { get; } = text;
    }

    /// <summary>Reads a version as runs of digits, runs of letters and tildes, skipping every other character.</summary>
    private ref struct Runs(ReadOnlySpan<char> text)
    {
        private ReadOnlySpan<char> _rest = text;

        public Run Next()
        {
            while (_rest.Length > 0 && !char.IsLetterOrDigit(_rest[0]) && _rest[0] != '~')
            {
                _rest = _rest[1..];
            }
            if (_rest.Length == 0)
            {
                return new Run(RunKind.End, default);
            }
            if (_rest[0] == '~')
            {
                _rest = _rest[1..];
                return new Run(RunKind.Tilde, default);
            }
            var digits = char.IsAsciiDigit(_rest[0]);
            var length = 1;
            while (length < _rest.Length && char.IsLetterOrDigit(_rest[length]) && char.IsAsciiDigit(_rest[length]) == digits)
            {
                length++;
            }
            var run = _rest[..length];
            _rest = _rest[length..];
            return new Run(digits ? RunKind.Number : PreReleaseRank(run) >= 0 ? RunKind.PreRelease : RunKind.Text, run);
        }
    }
}
