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
            StoredFile stored;
            await using (var source = OpenRead(sourcePath))
            await using (var target = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                stored = await HashAsync(source, segmentSize, target, cancellationToken);
                await target.FlushAsync(cancellationToken);
            }
            MoveIntoPlace(temporary, stored.Sha256);
            return stored;
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Takes a file that was written elsewhere in the data folder (a finished upload) into the store without copying it:
    /// hashes it in one pass and moves it into place when its hash is <paramref name="expectedSha256"/>. Null, with the
    /// file left where it was, when the hash is another.
    /// </summary>
    public async Task<StoredFile?> AdoptFileAsync(string path, long segmentSize, string expectedSha256, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        StoredFile stored;
        await using (var source = OpenRead(path))
        {
            stored = await HashAsync(source, segmentSize, copyTo: null, cancellationToken);
        }
        if (!string.Equals(stored.Sha256, expectedSha256, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        MoveIntoPlace(path, stored.Sha256);
        return stored;
    }

    /// <summary>A stored file described for <paramref name="segmentSize"/>: its size and the hash of each segment.</summary>
    public async Task<StoredFile> DescribeAsync(string sha256, long segmentSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        await using var source = OpenRead(PathOf(sha256));
        return await HashAsync(source, segmentSize, copyTo: null, cancellationToken);
    }

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Reads <paramref name="source"/> to its end: the hash of the whole and of each segment, copying it on the way when asked.</summary>
    private static async Task<StoredFile> HashAsync(Stream source, long segmentSize, Stream? copyTo, CancellationToken cancellationToken)
    {
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var segmentHasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var segments = new List<string>();
        var buffer = new byte[1 << 16];
        long size = 0;
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
            if (copyTo is not null)
            {
                await copyTo.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }
        if (inSegment > 0 || size == 0)
        {
            segments.Add(Convert.ToHexStringLower(segmentHasher.GetHashAndReset()));
        }
        return new StoredFile(Convert.ToHexStringLower(hasher.GetHashAndReset()), size, segments);
    }

    /// <summary>Moves a file whose content has this hash to its place in the store; when the store has it already, the file is deleted.</summary>
    private void MoveIntoPlace(string file, string sha256)
    {
        var destination = PathOf(sha256);
        if (File.Exists(destination))
        {
            File.Delete(file);
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        try
        {
            File.Move(file, destination);
        }
        catch (IOException) when (File.Exists(destination))
        {
            // Another writer stored the same content first; theirs is identical.
            File.Delete(file);
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
