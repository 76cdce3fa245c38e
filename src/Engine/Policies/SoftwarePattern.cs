using JP1Dist.Engine.Domain;

namespace JP1Dist.Engine.Policies;

/// <summary>
/// A software name (wildcards allowed) with an optional version range right after it:
/// <c>Office&gt;=16</c>, <c>openssl&lt;3.0</c>, <c>Old*</c>, <c>7-Zip &gt;=19 &lt;24</c>.
/// </summary>
public sealed class SoftwarePattern
{
    private readonly Func<string, bool> _name;

    private SoftwarePattern(string text, string name, VersionRange? range)
    {
        Text = text;
        Name = name;
        Range = range;
        _name = Wildcard.For(name);
    }

    /// <summary>The pattern as written.</summary>
    public string Text { get; }

    /// <summary>The name part (may hold wildcards).</summary>
    public string Name { get; }

    /// <summary>The version range, or null for any version.</summary>
    public VersionRange? Range { get; }

    /// <summary>Parses a pattern; a malformed one is a <see cref="DistException"/> (SoftwarePatternInvalid or VersionRangeInvalid).</summary>
    public static SoftwarePattern Parse(string text)
    {
        var trimmed = (text ?? "").Trim();
        var at = trimmed.IndexOfAny(['<', '>', '=', '!']);
        var name = (at < 0 ? trimmed : trimmed[..at]).Trim();
        if (name.Length == 0)
        {
            throw new DistException("SoftwarePatternInvalid", DistErrorKind.InvalidArgument,
                $"'{text}' is not a valid software pattern: use a name, optionally followed by a version range, such as 'Office>=16'.", text);
        }
        var range = at < 0 ? null : VersionRange.Parse(trimmed[at..], $"version range in '{text}'");
        return new SoftwarePattern(trimmed, name, range);
    }

    /// <summary>True when the name matches and the version is in range (any version when there is no range).</summary>
    public bool Matches(string name, string? version) => _name(name) && (Range is null || Range.Contains(version));

    /// <summary>True when the name part can only match names with this exact key (no wildcards).</summary>
    public bool IsExactName => !Wildcard.HasWildcard(Name);
}
