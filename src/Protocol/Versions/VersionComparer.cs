namespace JP1Dist.Protocol.Versions;

/// <summary>
/// Orders versions as package managers and people write them, the one rule for install conditions, ID group
/// policies, the manager's pre-check and Get-DistInventory -Software:
/// <list type="bullet">
/// <item>An epoch ("1:2.38-4") outranks everything after it; none is epoch 0.</item>
/// <item>The text after the last hyphen is a revision ("2.38-4", "3.0.2-0ubuntu1.10", rpm's release), compared only
/// when the parts before it are equal, so 2.38.1-1 is after 2.38-4 as dpkg says. Text after a hyphen that starts with
/// a pre-release word ("1.0-rc1") is no revision but part of the version, as in 1.0rc1 or 1.0~rc1.</item>
/// <item>Within each part, runs of digits compare as numbers and runs of letters as text without regard to case; any
/// other character only separates, except '~', which sorts before everything, the end included (1.0~git5 &lt; 1.0).</item>
/// <item>Zeros that only trail (before the end, a '~' or a pre-release word) do not count: 1.2 = 1.2.0, as Windows
/// writes 10.0 and 10.0.0.0, and 1.0rc1 = 1.0.0-rc1.</item>
/// <item>At each place: '~' &lt; a pre-release word (dev &lt; alpha &lt; beta &lt; pre &lt; preview &lt; rc) &lt; the end
/// &lt; other text &lt; a number. So 1.0-beta &lt; 1.0 &lt; 1.0a &lt; 1.0.1, 1.1.1 &lt; 1.1.1k (OpenSSL's letter
/// releases) and 2.3-4 &lt; 2.3-4ubuntu1, as dpkg and rpm order them; '~' before a pre-release word is that word.</item>
/// </list>
/// Each version is read into that canonical form and the forms are compared place by place in one fixed order, so
/// the comparison is a total order (transitive: a sort by it is sound). Where dpkg and rpm differ from it (both say
/// 1.0.0 is after 1.0), it differs on purpose: an administrator who writes "=1.2" means 1.2.0 too. Linear in the
/// length of its input, whatever that is: versions come from agents.
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
        if (hyphen > 0 && !StartsWithPreRelease(version[(hyphen + 1)..]))
        {
            upstream = version[..hyphen];
            revision = version[(hyphen + 1)..];
        }
        else
        {
            upstream = version;
            revision = ReadOnlySpan<char>.Empty;
        }
    }

    private static bool StartsWithPreRelease(ReadOnlySpan<char> text)
    {
        var first = new Runs(text).Next();
        return first.Kind == RunKind.PreRelease;
    }

    private static int CompareRuns(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        var a = new CanonicalRuns(left);
        var b = new CanonicalRuns(right);
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

    /// <summary>One fixed order over runs: by kind first (see <see cref="RunKind"/>), then within the kind.</summary>
    private static int CompareRun(Run x, Run y)
    {
        if (x.Kind != y.Kind)
        {
            return x.Kind < y.Kind ? -1 : 1;
        }
        return x.Kind switch
        {
            RunKind.Number => CompareNumbers(x.Text, y.Text),
            RunKind.PreRelease when PreReleaseRank(x.Text) != PreReleaseRank(y.Text) => PreReleaseRank(x.Text) < PreReleaseRank(y.Text) ? -1 : 1,
            RunKind.PreRelease or RunKind.Text => Math.Sign(x.Text.CompareTo(y.Text, StringComparison.OrdinalIgnoreCase)),
            _ => 0,
        };
    }

    /// <summary>Compares runs of digits as numbers of any length (no overflow), ignoring leading zeros.</summary>
    private static int CompareNumbers(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        left = left.TrimStart('0');
        right = right.TrimStart('0');
        return left.Length != right.Length ? (left.Length < right.Length ? -1 : 1) : Math.Sign(left.SequenceCompareTo(right));
    }

    private static bool IsZero(ReadOnlySpan<char> digits) => !digits.ContainsAnyExcept('0');

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

    /// <summary>What a run is, in the order runs of different kinds sort at the same place.</summary>
    private enum RunKind
    {
        Tilde,
        PreRelease,
        End,
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

    /// <summary>
    /// The runs of the canonical form: a '~' right before a pre-release word is dropped (1.0~rc1 reads as 1.0rc1), and
    /// so are zeros that only trail (1.2.0 reads as 1.2, 1.0.0-rc1 as 1-rc1). Each run is read once ahead at most, so
    /// even a long row of zeros costs linear time.
    /// </summary>
    private ref struct CanonicalRuns(ReadOnlySpan<char> text)
    {
        private Runs _runs = new(text);
        private int _keptZeros;

        public Run Next()
        {
            while (true)
            {
                var probe = _runs;
                var run = probe.Next();
                if (_keptZeros > 0)
                {
                    // Zeros already found to be followed by something that counts.
                    _keptZeros--;
                    _runs = probe;
                    return run;
                }
                if (run.Kind == RunKind.Tilde)
                {
                    var after = probe;
                    if (after.Next().Kind == RunKind.PreRelease)
                    {
                        _runs = probe;
                        continue;
                    }
                }
                else if (run.Kind == RunKind.Number && IsZero(run.Text))
                {
                    var ahead = probe;
                    var beforeNext = ahead;
                    var zeros = 1;
                    var next = ahead.Next();
                    while (next.Kind == RunKind.Number && IsZero(next.Text))
                    {
                        zeros++;
                        beforeNext = ahead;
                        next = ahead.Next();
                    }
                    if (next.Kind is RunKind.End or RunKind.Tilde or RunKind.PreRelease)
                    {
                        _runs = beforeNext;
                        continue;
                    }
                    _keptZeros = zeros - 1;
                }
                _runs = probe;
                return run;
            }
        }
    }
}
