using System.Diagnostics.CodeAnalysis;

namespace JP1Dist.Protocol;

/// <summary>The form of a content hash on the wire, in manifests and on disk: a SHA-256 as 64 hex digits.</summary>
public static class ContentHash
{
    /// <summary>The number of hex digits in a SHA-256.</summary>
    public const int Length = 64;

    /// <summary>
    /// True for 64 hex digits (either case). Content is stored under its hash, so only a string that passes this may
    /// name content or become part of a path.
    /// </summary>
    public static bool IsHash([NotNullWhen(true)] string? value) => value is { Length: Length } && value.All(char.IsAsciiHexDigit);
}
