using JP1Dist.Protocol;

namespace JP1Dist.Protocol.Versions;

/// <summary>
/// Software as install conditions, ID group policies and Get-DistInventory -Software name it: a name (wildcards
/// allowed, case ignored) with an optional version range right after it: <c>openssl &gt;=3</c>, <c>Office&gt;=16</c>,
/// <c>7-Zip &gt;=19 &lt;24</c>, <c>curl =8.5.0</c>, <c>Old*</c>. The range starts at the first operator: a name may hold
/// spaces and digits ("Visual C++ 2015"), so a bare version after it would be part of the name.
/// </summary>
public sealed class SoftwareSpec
{
    private readonly Func<string, bool> _name;

    private SoftwareSpec(string text, string name, VersionRange? range)
    {
        Text = text;
        Name = name;
        Range = range;
        _name = Wildcard.For(name);
    }

    /// <summary>The specification as written (trimmed).</summary>
    public string Text { get; }

    /// <summary>The name part (may hold wildcards).</summary>
    public string Name { get; }

    /// <summary>The version range, or null for any version.</summary>
    public VersionRange? Range { get; }

    /// <summary>True when the name part can only match one name (no wildcards), so it can be looked up by key.</summary>
    public bool IsExactName => !Wildcard.HasWildcard(Name);

    /// <summary>Parses a specification; a malformed one is a <see cref="DistException"/> (SoftwarePatternInvalid or VersionRangeInvalid).</summary>
    public static SoftwareSpec Parse(string? text)
    {
        var trimmed = (text ?? "").Trim();
        var at = trimmed.IndexOfAny(['<', '>', '=', '!']);
        var name = (at < 0 ? trimmed : trimmed[..at]).Trim();
        if (name.Length == 0)
        {
            throw new DistException("SoftwarePatternInvalid", DistErrorKind.InvalidArgument,
                $"'{text}' is not a valid software pattern: the software name is missing; use a name, optionally followed by a version range, such as 'Office>=16'.", text);
        }
        var range = at < 0 ? null : VersionRange.Parse(trimmed[at..], $"version range in '{trimmed}'");
        return new SoftwareSpec(trimmed, name, range);
    }

    /// <summary>Parses a specification, or says in <paramref name="reason"/> why the text is not one (the message <see cref="Parse"/> would throw).</summary>
    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out SoftwareSpec? spec, out string reason)
    {
        try
        {
            spec = Parse(text);
            reason = "";
            return true;
        }
        catch (DistException e)
        {
            spec = null;
            reason = e.Message;
            return false;
        }
    }

    /// <summary>True when the name matches (any version).</summary>
    public bool MatchesName(string name) => _name(name);

    /// <summary>True when the name matches and the version is in range (any version when there is no range).</summary>
    public bool Matches(string name, string? version) => _name(name) && (Range is null || Range.Contains(version));

    /// <summary>The name and the range, as messages show them ("openssl &gt;=3").</summary>
    public override string ToString() => Range is null ? Name : $"{Name} {Range}";
}
