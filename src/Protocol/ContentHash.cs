using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

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

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="target"/> and hashes it on the way: its SHA-256 (lower-case hex)
    /// and its size. Stops once more than <paramref name="limit"/> bytes came (a file larger than it should be is not read
    /// to its end); the size then says so.
    /// </summary>
    public static async Task<(string Sha256, long Size)> CopyAsync(Stream source, Stream target, long limit, CancellationToken cancellationToken)
    {
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long size = 0;
        int read;
        while (size <= limit && (read = await source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            hasher.AppendData(buffer, 0, read);
            await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            size += read;
        }
        return (Convert.ToHexStringLower(hasher.GetHashAndReset()), size);
    }
}
