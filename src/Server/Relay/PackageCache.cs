using System.Collections.Concurrent;
using JP1Dist.Agent;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Relay;

/// <summary>
/// The relay's package cache: content by SHA-256, fetched from the higher system once however many lower clients ask
/// for it. A fetch is checked segment by segment against the signed manifest, written to a partial file first and
/// resumed after the last verified segment when it was cut off (relay restarted, higher system gone). A fetch stopped by
/// this computer (a full disk, a denied path: <see cref="LocalFaultException"/>) removes its partial file, so the disk
/// is not left full; a file whose rest does not fit on the volume is refused before it is fetched.
/// </summary>
public sealed class PackageCache : IDisposable
{
    private readonly RelayUpstream _upstream;
    private readonly ILogger _logger;
    // Lazy: GetOrAdd may run its factory on several threads at once and keep one result; a fetch started by a discarded
    // factory would run all the same, beside the kept one, on the same partial file.
    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _fetches = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _concurrent = new(4, 4);

    public PackageCache(string folder, RelayUpstream upstream, ILogger logger)
    {
        _upstream = upstream;
        _logger = logger;
        Content = new ContentStore(Path.Combine(folder, "content"));
        IncomingFolder = Path.Combine(folder, "incoming");
        LocalFault.CreateFolder(IncomingFolder, "the relay's cache folder");
    }

    public ContentStore Content { get; }

    /// <summary>Where partial fetches are kept until every segment is verified.</summary>
    public string IncomingFolder { get; }

    /// <summary>How many times a segment that fails its hash is fetched again before the fetch fails.</summary>
    public int SegmentRetries { get; set; } = 3;

    /// <summary>The cached file's path once it is here: fetched now if needed, one fetch shared by every caller.</summary>
    public async Task<string> EnsureAsync(ManifestFile file, long segmentSize, CancellationToken cancellationToken)
    {
        // The callers take files from manifests that keep ManifestRules; the hash becomes a file name just below.
        if (!ContentHash.IsHash(file.Sha256))
        {
            throw new ContentVerificationException("The manifest names content by something that is not a SHA-256 hash.");
        }
        if (Content.Contains(file.Sha256))
        {
            return Content.PathOf(file.Sha256);
        }
        var shared = _fetches.GetOrAdd(file.Sha256, _ => new Lazy<Task<string>>(() => FetchAsync(file, segmentSize)));
        var fetch = shared.Value;
        try
        {
            // The fetch runs for the relay, not for this caller: a client that hangs up does not stop it for the others.
            return await fetch.WaitAsync(cancellationToken);
        }
        finally
        {
            if (fetch.IsCompleted)
            {
                _fetches.TryRemove(new KeyValuePair<string, Lazy<Task<string>>>(file.Sha256, shared));
            }
        }
    }

    private async Task<string> FetchAsync(ManifestFile file, long segmentSize)
    {
        await Task.Yield();
        var cancellationToken = _stopping.Token;
        await _concurrent.WaitAsync(cancellationToken);
        try
        {
            if (Content.Contains(file.Sha256))
            {
                return Content.PathOf(file.Sha256);
            }
            var partial = Path.Combine(IncomingFolder, file.Sha256.ToLowerInvariant() + ".part");
            try
            {
                await using (var fetch = await SegmentFetch.OpenAsync(partial, file, segmentSize, cancellationToken))
                {
                    if (fetch.Confirmed > 0)
                    {
                        _logger.LogInformation("Resuming the fetch of {Sha256} after {Verified} verified segments", file.Sha256, fetch.Confirmed);
                    }
                    LocalFault.EnsureRoom(IncomingFolder, file.Size - Math.Min(file.Size, fetch.Confirmed * segmentSize), "caching content in");
                    _ = _upstream.Identity; // the current credential
                    using var reader = new SegmentReader(_upstream.Client, file.Sha256, new TransferThrottle(0));
                    await fetch.RunAsync(reader, read => read(), _ => Task.FromResult(true), SegmentRetries, _logger, file.Sha256, cancellationToken);
                }
                var destination = Content.PathOf(file.Sha256);
                LocalFault.CreateFolder(Path.GetDirectoryName(destination)!, "a folder of the relay's cache");
                LocalFault.Guard(destination, "moving fetched content to", () => File.Move(partial, destination, overwrite: true));
                _logger.LogInformation("Cached {Sha256} ({Size} bytes) from the higher system", file.Sha256, file.Size);
                return destination;
            }
            catch (LocalFaultException e)
            {
                // Kept, the partial file would hold the space that is missing; the next fetch starts over.
                var removed = TryDelete(partial);
                _logger.LogError("Caching {Sha256} failed ({Kind}): {Message} The partial file {Outcome}", file.Sha256, e.Fault.Kind, e.Message,
                    removed ? "was removed." : $"'{partial}' could not be removed.");
                throw;
            }
        }
        finally
        {
            _concurrent.Release();
        }
    }

    private static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Every hash in the cache.</summary>
    public IEnumerable<string> CachedHashes() => Directory.Exists(Content.Root)
        ? Directory.EnumerateFiles(Content.Root, "*", SearchOption.AllDirectories).Select(f => Path.GetFileName(f)).Where(ContentHash.IsHash)
        : [];

    /// <summary>Removes a cached file (expired, or no longer needed); false when it could not be removed now.</summary>
    public bool Remove(string sha256)
    {
        try
        {
            File.Delete(Content.PathOf(sha256));
            return true;
        }
        catch (IOException)
        {
            return false; // being served; the next prune tries again
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _concurrent.Dispose();
    }
}
