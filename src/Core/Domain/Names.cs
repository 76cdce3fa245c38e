using System.Text.RegularExpressions;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Domain;

/// <summary>Rules for the names of packages, jobs and hosts: one place decides what a valid name is and how names compare.</summary>
public static partial class Names
{
    /// <summary>The key under which a name is unique: names compare without regard to case, as Windows administrators expect.</summary>
    public static string Key(string name) => name.Trim().ToUpperInvariant();

    /// <summary>Throws a <see cref="DistException"/> naming the parameter when <paramref name="value"/> is not a usable name.</summary>
    public static string Require(string? value, string what)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new DistException($"{what}NameMissing", DistErrorKind.InvalidArgument, $"The {what.ToLowerInvariant()} name is empty.");
        }
        var trimmed = value.Trim();
        if (trimmed.Length > 200 || !NamePattern().IsMatch(trimmed))
        {
            throw new DistException($"{what}NameInvalid", DistErrorKind.InvalidArgument,
                $"'{value}' is not a valid {what.ToLowerInvariant()} name: use up to 200 letters, digits, spaces and . _ - + ( ) characters.", value);
        }
        return trimmed;
    }

    [GeneratedRegex(@"^[\p{L}\p{N}][\p{L}\p{N} ._\-+()]*$")]
    private static partial Regex NamePattern();
}
