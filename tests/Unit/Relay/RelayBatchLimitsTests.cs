using JP1Dist.Core.Distribution;
using JP1Dist.Protocol;
using JP1Dist.Server.Relay;
using JP1Dist.Tests.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace JP1Dist.Tests.Relay;

/// <summary>What a relay passes upward in one batch stays within the higher system's limits: entries and body size.</summary>
public sealed class RelayBatchLimitsTests : IDisposable
{
    private readonly TestFolder _folder = new();

    private static FactsReport Facts(int software) => new("Linux", "6.8", "X64", [], null, "1.0",
        new HostInventory(1, 1, [], [], Enumerable.Range(0, software).Select(i => new SoftwareFact($"package-{i}", "1.0", "dpkg")).ToList()));

    [Fact]
    public async Task The_outbox_is_taken_within_a_size_budget_and_at_least_one_entry_at_a_time()
    {
        using var store = new RelayStore(Path.Combine(_folder.Root, "relay.db"));
        var large = new RelayBatchEntry(0, Guid.NewGuid(), Facts: Facts(1000));
        await store.EnqueueAsync([large, large with { HostId = Guid.NewGuid() }, new RelayBatchEntry(0, Guid.NewGuid(), Facts: Facts(1))], default);
        var largeChars = System.Text.Json.JsonSerializer.Serialize(large, ProtocolJson.Options).Length;

        Assert.Equal(3, store.PeekOutbox(500).Count);
        Assert.Single(store.PeekOutbox(500, maxJsonChars: 100));
        Assert.Equal(2, store.PeekOutbox(500, maxJsonChars: 2 * largeChars + 10).Count);
        Assert.Equal(3, store.PeekOutbox(500, maxJsonChars: 3 * largeChars).Count);
    }

    [Fact]
    public async Task Last_seen_times_are_taken_at_most_as_many_as_the_batch_has_room_for()
    {
        var options = new RelayOptions { HigherSystemUrl = new Uri("http://127.0.0.1:9"), StateFolder = Path.Combine(_folder.Root, "relay") };
        using var store = new RelayStore(options.DatabasePath);
        using var upstream = new RelayUpstream(options);
        using var cache = new PackageCache(options.CacheFolder, upstream, NullLogger.Instance);
        var node = new RelayNode(options, store, upstream, cache, new HostSignals(), NullLogger<RelayNode>.Instance);
        for (var i = 0; i < ProtocolLimits.MaxBatchEntries + 10; i++)
        {
            await node.TouchAsync(Guid.NewGuid());
        }

        var first = node.TakeSeen(ProtocolLimits.MaxBatchEntries - RelayUplink.BatchSize);
        Assert.Equal(ProtocolLimits.MaxBatchEntries - RelayUplink.BatchSize, first.Count);
        Assert.True(node.HasSeen);
        Assert.Equal(RelayUplink.BatchSize + 10, node.TakeSeen(ProtocolLimits.MaxBatchEntries).Count);
        Assert.False(node.HasSeen);
    }

    public void Dispose() => _folder.Dispose();
}
