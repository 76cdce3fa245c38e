using System.Security.Cryptography;
using JP1Dist.Engine.Protocol;

namespace JP1Dist.Engine.Agent;

/// <summary>Checks segments against the SHA-256 hashes of the signed manifest: for an agent's download and a relay's cache alike.</summary>
public static class SegmentHashes
{
    /// <summary>Whether <paramref name="data"/> has the SHA-256 <paramref name="expected"/> (hex, either case).</summary>
    public static bool Matches(ReadOnlySpan<byte> data, string expected) =>
        string.Equals(Convert.ToHexStringLower(SHA256.HashData(data)), expected, StringComparison.OrdinalIgnoreCase);

    /// <summary>How many whole segments at the start of a partial file match their hashes (what a resumed transfer keeps).</summary>
    public static async Task<int> VerifiedPrefixAsync(FileStream partial, ManifestFile file, long segmentSize, byte[] buffer, CancellationToken cancellationToken)
    {
        var verified = 0;
        while (verified < file.Segments.Count)
        {
            var offset = verified * segmentSize;
            var length = (int)Math.Min(segmentSize, file.Size - offset);
            if (offset + length > partial.Length)
            {
                break;
            }
            partial.Position = offset;
            await partial.ReadExactlyAsync(buffer.AsMemory(0, length), cancellationToken);
            if (!Matches(buffer.AsSpan(0, length), file.Segments[verified]))
            {
                break;
            }
            verified++;
        }
        return verified;
    }
}
