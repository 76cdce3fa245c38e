using System.Security.Cryptography;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Storage;

/// <summary>Keeps each file once, named by its SHA-256; writes go to a temporary file and are renamed into place.</summary>
public sealed class ContentStore(string root)
{
    public string Root { get; } = root;

    /// <summary>The path a blob with this hash lives at (it may not exist).</summary>
    public string PathOf(string sha256)
    {
        if (!ContentHash.IsHash(sha256))
        {
            throw new ArgumentException($"'{sha256}' is not a SHA-256 hash in hex.", nameof(sha256));
        }
        var hash = sha256.ToLowerInvariant();
        return Path.Combine(Root, hash[..2], hash);
    }

    public bool Contains(string sha256) => ContentHash.IsHash(sha256) && File.Exists(PathOf(sha256));

    /// <summary>Copies a file into the store and returns its hash; a file already there is not copied again.</summary>
    public async Task<string> AddFileAsync(string sourcePath, CancellationToken cancellationToken = default) =>
        (await AddFileAsync(sourcePath, long.MaxValue, cancellationToken)).Sha256;

    /// <summary>
    /// Copies a file into the store in one pass that also hashes each segment of <paramref name="segmentSize"/> bytes,
    /// so that packaging reads every byte once.
    /// </summary>
    public async Task<StoredFile> AddFileAsync(string sourcePath, long segmentSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        Directory.CreateDirectory(Root);
        var temporary = Path.Combine(Root, $".incoming-{Guid.NewGuid():N}");
        try
        {
            string hash;
            long size = 0;
            var segments = new List<string>();
            await using (var source = new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
            await using (var target = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            using (var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            using (var segmentHasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[1 << 16];
                long inSegment = 0;
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hasher.AppendData(buffer, 0, read);
                    var offset = 0;
                    while (offset < read)
                    {
                        var take = (int)Math.Min(read - offset, segmentSize - inSegment);
                        segmentHasher.AppendData(buffer, offset, take);
                        inSegment += take;
                        offset += take;
                        if (inSegment == segmentSize)
                        {
                            segments.Add(Convert.ToHexStringLower(segmentHasher.GetHashAndReset()));
                            inSegment = 0;
                        }
                    }
                    size += read;
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                if (inSegment > 0 || size == 0)
                {
                    segments.Add(Convert.ToHexStringLower(segmentHasher.GetHashAndReset()));
                }
                await target.FlushAsync(cancellationToken);
                hash = Convert.ToHexStringLower(hasher.GetHashAndReset());
            }
            var destination = PathOf(hash);
            if (File.Exists(destination))
            {
                File.Delete(temporary);
            }
            else
            {
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                try
                {
                    File.Move(temporary, destination);
                }
                catch (IOException) when (File.Exists(destination))
                {
                    // Another writer stored the same content first; theirs is identical.
                    File.Delete(temporary);
                }
            }
            return new StoredFile(hash, size, segments);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>A file as the content store keeps it: its hash, its size, and the hash of each segment.</summary>
public sealed record StoredFile(string Sha256, long Size, IReadOnlyList<string> SegmentHashes);
