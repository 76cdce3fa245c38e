using System.Security.Cryptography;
using JP1Dist.Protocol;
using Microsoft.Win32.SafeHandles;

namespace JP1Dist.Agent;

/// <summary>Checks segments against the SHA-256 hashes of the signed manifest: for an agent's download and a relay's cache alike.</summary>
public static class SegmentHashes
{
    /// <summary>Whether <paramref name="data"/> has the SHA-256 <paramref name="expected"/> (hex, either case).</summary>
    public static bool Matches(ReadOnlySpan<byte> data, string expected) =>
        string.Equals(Convert.ToHexStringLower(SHA256.HashData(data)), expected, StringComparison.OrdinalIgnoreCase);

    /// <summary>How many whole segments at the start of a partial file match their hashes (what a resumed transfer keeps).</summary>
    public static async Task<int> VerifiedPrefixAsync(SafeFileHandle partial, ManifestFile file, long segmentSize, CancellationToken cancellationToken)
    {
        var length = RandomAccess.GetLength(partial);
        if (length == 0 || file.Segments.Count == 0)
        {
            return 0;
        }
        var buffer = new byte[(int)Math.Min(segmentSize, file.Size)];
        var verified = 0;
        while (verified < file.Segments.Count)
        {
            var offset = verified * segmentSize;
            var segment = buffer.AsMemory(0, (int)Math.Min(segmentSize, file.Size - offset));
            if (offset + segment.Length > length)
            {
                break;
            }
            for (var filled = 0; filled < segment.Length;)
            {
                var read = await RandomAccess.ReadAsync(partial, segment[filled..], offset + filled, cancellationToken);
                if (read == 0)
                {
                    return verified; // shortened meanwhile
                }
                filled += read;
            }
            if (!Matches(segment.Span, file.Segments[verified]))
            {
                break;
            }
            verified++;
        }
        return verified;
    }
}
