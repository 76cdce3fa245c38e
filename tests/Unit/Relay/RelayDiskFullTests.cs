using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Server.Serving;
using JP1Dist.Tests.Host;
using Xunit;

namespace JP1Dist.Tests.Relay;

/// <summary>
/// A relay whose package cache is a 2 MiB file system of its own: a transfer-to-relay job for a larger package fails
/// naming the full disk and leaves nothing behind; a client asking for content the cache cannot take is answered 503
/// StorageFault and asks again later; and the relay keeps serving: content that fits is cached and installed below,
/// and when the disk is full, cached content no work needs any more is removed at once to make room.
/// </summary>
public sealed class RelayDiskFullTests : IAsyncLifetime
{
    private const long SegmentSize = 64 * 1024;
    private RelayHarness _h = null!;

    public async Task InitializeAsync() => _h = await RelayHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [SmallVolumeFact]
    public async Task A_relay_whose_cache_disk_is_full_fails_what_it_cannot_store_makes_room_and_keeps_serving()
    {
        var cache = Path.Combine(_h.Folder.Root, "relay-relay1", "cache");
        using var volume = SmallVolume.Mount(cache, 2 * 1024 * 1024);
        var relay = await _h.StartRelayAsync("relay1");
        try
        {
            await PackageAsync("Big", 3 * 1024 * 1024);
            await _h.ExecuteAsync(new NewJobRequest("StageBig", "Big", null, ["relay1"], Type: JobType.TransferToRelay));
            await _h.RunUntilFinalAsync("StageBig");
            var staged = (await _h.StatusAsync("StageBig")).Single();
            Assert.Equal(TargetStatus.Failed, staged.Status);
            Assert.StartsWith($"Not enough disk space: caching content in '{Path.Combine(cache, "incoming")}' needs ", staged.Message, StringComparison.Ordinal);
            Assert.EndsWith("Free space on that volume, then execute the job again.", staged.Message, StringComparison.Ordinal);
            Assert.Empty(relay.Node.Stored);
            Assert.Empty(Directory.EnumerateFiles(cache, "*.part", SearchOption.AllDirectories));

            // A client below asks for the same package: answered 503 with the fault, so it asks again later (its target waits).
            using var c1 = await _h.AgentAsync("c1", relay.Url);
            await c1.RunOnceAsync(default);
            await _h.ExecuteAsync(new NewJobRequest("InstallBig", "Big", null, ["c1"]));
            HigherSystemException? refused = null;
            await RelayHarness.EventuallyAsync(async () =>
            {
                try
                {
                    await c1.RunOnceAsync(default); // no error until the relay's snapshot brings the work
                }
                catch (HigherSystemException e)
                {
                    refused = e;
                }
                return refused is not null;
            }, "the client refused the content");
            Assert.Equal((System.Net.HttpStatusCode.ServiceUnavailable, AgentApi.StorageFaultId), (refused!.Status, refused.ErrorId));
            Assert.Contains("Not enough disk space: caching content in", refused.Message, StringComparison.Ordinal);
            await RelayHarness.EventuallyAsync(async () => (await _h.StatusAsync("InstallBig")).Single().Status == TargetStatus.Transferring,
                "the client's target waits at Transferring"); // reported through the relay's outbox
            await _h.Folder.Engine.Jobs.ControlAsync("InstallBig", null, JobControlAction.Cancel);

            // Still serving: a package that fits is cached and installed below.
            using var c2 = await _h.AgentAsync("c2", relay.Url);
            await c2.RunOnceAsync(default);
            await PackageAsync("First", 600 * 1024);
            await _h.ExecuteAsync(new NewJobRequest("First", "First", null, ["c2"]));
            await _h.RunUntilFinalAsync("First", c2);
            Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("First")).Single().Status);

            // Once no work needs it, the first package's content gives way to the next one, which would not fit beside it.
            await RelayHarness.EventuallyAsync(async () => (await relay.Node.CountTargetsAsync(default)).Values.Sum() == 0, "the relay's work done");
            var first = CachedFiles(cache);
            Assert.NotEmpty(first);
            await PackageAsync("Second", 600 * 1024);
            await _h.ExecuteAsync(new NewJobRequest("Second", "Second", null, ["c2"]));
            await _h.RunUntilFinalAsync("Second", c2);
            Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Second")).Single().Status);
            Assert.Empty(CachedFiles(cache).Intersect(first));
            Assert.Equal(["c2 First", "c2 Second"], _h.Installs());
        }
        finally
        {
            await relay.StopAsync(); // before the volume is unmounted
        }
    }

    private static List<string> CachedFiles(string cache) =>
        Directory.EnumerateFiles(Path.Combine(cache, "content"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).OfType<string>().ToList();

    /// <summary>A package of the install script and a payload of <paramref name="bytes"/> random bytes.</summary>
    private Task<DistPackage> PackageAsync(string name, int bytes)
    {
        var folder = Path.Combine(_h.Folder.Root, "packages", name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "install.sh"), $"#!/bin/sh\necho \"$JP1DIST_HOST_NAME {name}\" >> \"$1\"\n");
        File.WriteAllBytes(Path.Combine(folder, "payload.bin"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes));
        return _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest(name, "1.0", folder, "install.sh", [_h.InstallLog], SegmentSize: SegmentSize));
    }
}
