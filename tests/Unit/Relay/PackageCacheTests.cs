using JP1Dist.Contracts;
using System.Security.Cryptography;
using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using JP1Dist.Server.Relay;
using JP1Dist.Tests.Agent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace JP1Dist.Tests.Relay;

/// <summary>The relay's package cache fetching from a real manager over 127.0.0.1: cut fetches resume, bad segments are fetched again.</summary>
public sealed class PackageCacheTests : IAsyncLifetime
{
    private RelayHarness _h = null!;

    public async Task InitializeAsync() => _h = await RelayHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    /// <summary>A cache with the identity of a relay registered at the manager, fetching through <paramref name="handler"/>.</summary>
    private async Task<(PackageCache Cache, ManifestFile Payload, long SegmentSize)> CacheAsync(RecordingHandler handler)
    {
        await _h.PackageAsync("app");
        var token = await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relay", Relay: true));
        var registered = await _h.Folder.Engine.Hosts.RegisterAsync(
            new RegisterRequest(token.Token!, "relay-x", "Linux", "6.1", "X64", ["127.0.0.1"], null, "1.0") { Kind = "Relay" });
        var options = new RelayOptions { HigherSystemUrl = new Uri(_h.ManagerUrl), StateFolder = Path.Combine(_h.Folder.Root, "relay-x") };
        new AgentStateStore(options.AgentFolder).SaveIdentity(new AgentIdentity(options.HigherSystemUrl, "relay-x", registered.HostId, registered.Credential, registered.ManifestPublicKey));
        var upstream = new RelayUpstream(options, handler);
        await using var db = _h.Folder.Engine.Database.CreateContext();
        var manifest = JsonSerializer.Deserialize<PackageManifest>((await db.Packages.SingleAsync()).ManifestJson, ProtocolJson.Options)!;
        var payload = manifest.Files.Single(f => f.Path == "payload.bin");
        return (new PackageCache(options.CacheFolder, upstream, NullLogger.Instance), payload, manifest.SegmentSize);
    }

    private RecordingHandler Handler() => new() { PayloadSha256 = Convert.ToHexStringLower(SHA256.HashData(_h.Payload)) };

    [Fact]
    public async Task A_cut_fetch_resumes_after_the_last_verified_segment()
    {
        var handler = Handler();
        var (cache, payload, segmentSize) = await CacheAsync(handler);
        using (cache)
        {
            handler.BeforePayloadRead = offset => offset >= 5 * segmentSize ? throw new IOException("connection cut") : Task.CompletedTask;
            await Assert.ThrowsAnyAsync<IOException>(() => cache.EnsureAsync(payload, segmentSize, CancellationToken.None));
            Assert.False(cache.Content.Contains(payload.Sha256));

            handler.BeforePayloadRead = null;
            var path = await cache.EnsureAsync(payload, segmentSize, CancellationToken.None);

            Assert.Equal(_h.Payload, await File.ReadAllBytesAsync(path));
            Assert.Equal([0L, 5 * segmentSize], handler.PayloadOffsets.ToArray());
            Assert.Empty(Directory.EnumerateFiles(cache.IncomingFolder));
        }
    }

    [Fact]
    public async Task A_corrupted_segment_is_fetched_again_and_the_cache_holds_only_verified_bytes()
    {
        var handler = Handler();
        handler.CorruptOffset = 3 * 4096 + 17;
        var (cache, payload, segmentSize) = await CacheAsync(handler);
        using (cache)
        {
            var path = await cache.EnsureAsync(payload, segmentSize, CancellationToken.None);
            Assert.Equal(_h.Payload, await File.ReadAllBytesAsync(path));
            Assert.Equal([0L, 3 * segmentSize], handler.PayloadOffsets.ToArray());
        }
    }

    [Fact]
    public async Task Many_callers_share_one_fetch()
    {
        var handler = Handler();
        var (cache, payload, segmentSize) = await CacheAsync(handler);
        using (cache)
        {
            var paths = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => cache.EnsureAsync(payload, segmentSize, CancellationToken.None)));
            Assert.Single(paths.Distinct());
            Assert.Single(handler.PayloadOffsets);
        }
    }

    [Fact]
    public async Task Callers_arriving_at_the_same_moment_on_many_threads_share_one_fetch()
    {
        // Clients that come back together (after a relay restart, found by bench/Soak) ask for the same content at the
        // same instant, on as many threads: still one fetch, and no fetch that finds the partial file taken by another.
        var handler = Handler();
        var (cache, payload, segmentSize) = await CacheAsync(handler);
        using (cache)
        {
            const int callers = 32;
            using var together = new Barrier(callers);
            var calls = Enumerable.Range(0, callers).Select(_ => Task.Factory.StartNew(() =>
            {
                together.SignalAndWait();
                return cache.EnsureAsync(payload, segmentSize, CancellationToken.None);
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()).ToList();
            var paths = await Task.WhenAll(calls);
            Assert.Single(paths.Distinct());
            Assert.Single(handler.PayloadOffsets);
        }
    }
}
