namespace JP1Dist.Protocol;

/// <summary>
/// What a package manifest must be before anything of it is used, by an agent or a relay's cache: hashes that are
/// hashes (they become file names), file paths that stay inside the staging folder, and segment lists that fit their
/// file. The signature says who made a manifest; these rules say it is one that can be used safely.
/// </summary>
public static class ManifestRules
{
    /// <summary>The first thing wrong with the manifest, as a phrase naming it; null when it keeps every rule.</summary>
    public static string? Validate(PackageManifest? manifest)
    {
        if (manifest is null)
        {
            return "the manifest is empty";
        }
        if (manifest.SegmentSize <= 0 || manifest.SegmentSize > ProtocolLimits.MaxSegmentSize)
        {
            return $"the segment size {manifest.SegmentSize} is not from 1 to {ProtocolLimits.MaxSegmentSize} bytes";
        }
        if (manifest.Files is null)
        {
            return "the manifest lists no files";
        }
        for (var i = 0; i < manifest.Files.Count; i++)
        {
            if (File(manifest.Files[i], manifest.SegmentSize) is { } problem)
            {
                return $"file {i + 1}{(manifest.Files[i]?.Path is { } path ? $" ('{Quote(path)}')" : "")}: {problem}";
            }
        }
        return null;
    }

    /// <summary>
    /// How many segments a file of <paramref name="size"/> bytes has: one per started segment, and for an empty file
    /// none or one (the hash of nothing, as the content store records it).
    /// </summary>
    public static bool SegmentCountFits(long size, long segmentSize, int count) =>
        size == 0 ? count is 0 or 1 : count == size / segmentSize + (size % segmentSize == 0 ? 0 : 1);

    /// <summary>
    /// A path inside a package: relative, not empty, no '..' part and no control characters, whichever separator it
    /// uses (a manifest made on one system is used on another).
    /// </summary>
    public static bool IsPackagePath(string? path)
    {
        if (string.IsNullOrWhiteSpace(path) || path.Any(char.IsControl))
        {
            return false;
        }
        // Rooted on either system: /etc, \\server\share, \Windows, C:\ or the drive-relative C:file.
        if (path[0] is '/' or '\\' || (path.Length >= 2 && path[1] == ':' && char.IsAsciiLetter(path[0])))
        {
            return false;
        }
        return !path.Split('/', '\\').Any(part => part == "..");
    }

    private static string? File(ManifestFile? file, long segmentSize)
    {
        if (file is null)
        {
            return "the entry is empty";
        }
        if (!IsPackagePath(file.Path))
        {
            return "the path is empty, absolute or leaves the package folder";
        }
        if (file.Size < 0)
        {
            return $"the size {file.Size} is negative";
        }
        if (!ContentHash.IsHash(file.Sha256))
        {
            return "its hash is not a SHA-256 (64 hex digits)";
        }
        if (file.Segments is null)
        {
            return "it lists no segments";
        }
        if (!SegmentCountFits(file.Size, segmentSize, file.Segments.Count))
        {
            return $"{file.Segments.Count} segment hashes do not fit {file.Size} bytes in segments of {segmentSize}";
        }
        for (var i = 0; i < file.Segments.Count; i++)
        {
            if (!ContentHash.IsHash(file.Segments[i]))
            {
                return $"the hash of segment {i} is not a SHA-256 (64 hex digits)";
            }
        }
        return null;
    }

    private static string Quote(string path)
    {
        var shown = new string(path.Take(80).Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c).ToArray());
        return path.Length > 80 ? shown + "…" : shown;
    }
}
