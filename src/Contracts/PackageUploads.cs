namespace JP1Dist.Contracts;

/// <summary>A file of a package upload: its path inside the package, its size and its SHA-256 (lower-case hex).</summary>
public sealed record PackageUploadFile(string Path, long Size, string Sha256);

/// <summary>
/// The start of a package upload (POST uploads): the package as New-DistPackage asks for it (its Path is where the files are
/// on the uploading computer, recorded in the audit log and never read by the manager) and the files that will follow. The
/// manager checks all of it before accepting a byte; the same files for the same package by the same caller continue the
/// upload begun before.
/// </summary>
public sealed record NewPackageUpload(NewPackageRequest Package, IReadOnlyList<PackageUploadFile> Files);

/// <summary>
/// A package upload as the manager holds it: its id, how many bytes of each file it has (in the order of the files given;
/// a file the manager already stores counts as whole), the largest piece it accepts in one request, and until when it keeps
/// an upload nobody continues.
/// </summary>
public sealed record PackageUploadState(string Id, IReadOnlyList<long> Received, int MaxChunkBytes, DateTime ExpiresAt);

/// <summary>The answer to a piece of a file: how many bytes of that file the manager has now.</summary>
public sealed record PackageUploadChunk(int File, long Received);

/// <summary>
/// How a piece of an upload is sent: PUT uploads/{id}/files/{index}?offset=N with the bytes as the body and their SHA-256
/// in a Content-Digest header (RFC 9530: <c>sha-256=:BASE64:</c>). The manager takes a piece only at the offset it has
/// reached and only when the digest matches; anything else changes nothing.
/// </summary>
public static class PackageUploadProtocol
{
    /// <summary>The header carrying a piece's digest.</summary>
    public const string DigestHeader = "Content-Digest";

    /// <summary>The largest piece the manager takes in one request.</summary>
    public const int MaxChunkBytes = 16 * 1024 * 1024;

    /// <summary>The piece size a session sends: small enough that a cut loses little, large enough to keep requests few.</summary>
    public const int ChunkBytes = 4 * 1024 * 1024;

    /// <summary>The Content-Digest value for a piece's SHA-256.</summary>
    public static string Digest(ReadOnlySpan<byte> sha256) => $"sha-256=:{Convert.ToBase64String(sha256)}:";

    /// <summary>The SHA-256 a Content-Digest value names, or null when it names none (or names it malformed).</summary>
    public static byte[]? ParseDigest(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }
        foreach (var member in header.Split(','))
        {
            var entry = member.Trim();
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !entry[..equals].Trim().Equals("sha-256", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var value = entry[(equals + 1)..].Trim();
            if (value.Length < 2 || value[0] != ':' || value[^1] != ':')
            {
                return null;
            }
            var bytes = new byte[32];
            return Convert.TryFromBase64String(value[1..^1], bytes, out var written) && written == 32 ? bytes : null;
        }
        return null;
    }
}
