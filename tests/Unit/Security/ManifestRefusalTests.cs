using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Protocol;
using JP1Dist.Server.Relay;
using JP1Dist.Tests.Agent;
using JP1Dist.Tests.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// A manifest signed by the manager's own key but breaking <see cref="ManifestRules"/>: the agent fails its work item
/// with the reason and fetches nothing; a relay serves it to its clients (who refuse it the same way) but fetches,
/// caches and stores nothing by it.
/// </summary>
public sealed class ManifestRefusalTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    /// <summary>The work answer with every manifest changed by <paramref name="change"/> and signed again with the manager key.</summary>
    private string Resign(string body, Func<PackageManifest, PackageManifest> change)
    {
        var work = JsonSerializer.Deserialize<WorkResponse>(body, ProtocolJson.Options)!;
        return JsonSerializer.Serialize(new WorkResponse(work.Items.Select(item =>
        {
            var manifest = JsonSerializer.Serialize(change(JsonSerializer.Deserialize<PackageManifest>(item.Manifest, ProtocolJson.Options)!), ProtocolJson.Options);
            return item with { Manifest = manifest, ManifestSignature = _h.Folder.Engine.Signer.Sign(manifest) };
        }).ToList()), ProtocolJson.Options);
    }

    public static TheoryData<string, string> Breaches => new()
    {
        { "path", "the path is empty, absolute or leaves the package folder" },
        { "hash", "its hash is not a SHA-256" },
        { "segments", "segment hashes do not fit" },
        { "segmentSize", "the segment size 0 is not from 1" },
    };

    private static PackageManifest Break(PackageManifest manifest, string breach)
    {
        var file = manifest.Files[^1];
        return breach switch
        {
            "path" => manifest with { Files = [.. manifest.Files.SkipLast(1), file with { Path = "../../../etc/cron.d/job" }] },
            "hash" => manifest with { Files = [.. manifest.Files.SkipLast(1), file with { Sha256 = "../../../etc/passwd" }] },
            "segments" => manifest with { Files = [.. manifest.Files.SkipLast(1), file with { Segments = file.Segments.Skip(1).ToList() }] },
            _ => manifest with { SegmentSize = 0 },
        };
    }

    [Theory]
    [MemberData(nameof(Breaches))]
    public async Task An_agent_fails_a_signed_manifest_that_breaks_the_rules_and_fetches_nothing(string breach, string reason)
    {
        var handler = _h.Handler();
        using var agent = await _h.AgentAsync("pc-1", handler);
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
        handler.Rewrite = body => Resign(body, manifest => Break(manifest, breach));

        await agent.RunOnceAsync(default);

        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.Failed, status.Status);
        Assert.Contains("The package manifest was refused", status.Message, StringComparison.Ordinal);
        Assert.Contains(reason, status.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Requests);
        Assert.Equal(0, _h.InstallCount());
    }

    [Fact]
    public async Task A_relay_serves_but_never_fetches_caches_or_stores_by_a_manifest_that_breaks_the_rules()
    {
        var options = new RelayOptions { HigherSystemUrl = new Uri("http://127.0.0.1:9"), StateFolder = Path.Combine(_h.Folder.Root, "relay") };
        using var store = new RelayStore(options.DatabasePath);
        using var upstream = new RelayUpstream(options);
        using var cache = new PackageCache(options.CacheFolder, upstream, NullLogger.Instance);
        var node = new RelayNode(options, store, upstream, cache, new HostSignals(), NullLogger<RelayNode>.Instance);
        var signer = _h.Folder.Engine.Signer;

        string Hash(char c) => new(c, 64);
        var good = new PackageManifest("App", "1.0", 4, [new ManifestFile("app.bin", 10, Hash('a'), [Hash('1'), Hash('2'), Hash('3')])], "app.bin", [], [0], 60);
        var bad = good with { Files = [new ManifestFile("../../x", 10, Hash('b'), [Hash('1'), Hash('2'), Hash('3')])] };
        var goodJson = JsonSerializer.Serialize(good, ProtocolJson.Options);
        var badJson = JsonSerializer.Serialize(bad, ProtocolJson.Options);
        var (goodHost, badHost) = (Guid.NewGuid(), Guid.NewGuid());
        var work = new RelayWorkResponse(
            [new RelayWorkItem(goodHost, new WorkItem(Guid.NewGuid(), "J1", 1, "", ""), "Queued", "good"),
             new RelayWorkItem(badHost, new WorkItem(Guid.NewGuid(), "J2", 1, "", ""), "Queued", "bad")],
            new Dictionary<string, SignedManifest> { ["good"] = new(goodJson, signer.Sign(goodJson)), ["bad"] = new(badJson, signer.Sign(badJson)) },
            "tag-1");

        var needed = await node.ApplySnapshotAsync(work, [signer.PublicKey], default);

        Assert.Equal([Hash('a')], needed.Select(n => n.File.Sha256));
        Assert.Equal(badJson, (await node.WaitForWorkAsync(badHost, TimeSpan.Zero, default)).Items.Single().Manifest);
        // Content named only by a manifest that breaks the rules is not fetched: it is not known, and said so (503, ask later).
        var unknown = await Assert.ThrowsAsync<DistException>(() => node.GetContentPathAsync(Hash('b'), default));
        Assert.Equal("ContentNotKnownYet", unknown.ErrorId);
        var refused = await Assert.ThrowsAsync<ContentVerificationException>(() => node.StoreAsync(bad, badJson, signer.Sign(badJson), null, default));
        Assert.Contains("leaves the package folder", refused.Message, StringComparison.Ordinal);
        Assert.Empty(node.Stored);
        Assert.Empty(Directory.EnumerateFiles(cache.IncomingFolder));
    }
}
