using JP1Dist.Contracts;
using JP1Dist.Core.Audit;
using JP1Dist.Tests.Engine;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// The audit log's retention in a real manager process: the manager sweeps at start, archiving and removing only entries
/// older than --audit-retention-days; a retention below 30 days, or a request limit below 1, is refused before it starts.
/// </summary>
public sealed class AuditRetentionProcessTests
{
    [Fact]
    public async Task The_manager_archives_and_removes_entries_older_than_its_retention_and_keeps_the_rest()
    {
        var now = DateTimeOffset.UtcNow;
        await using var manager = await ManagerProcess.StartAsync(["--audit-retention-days", "90"], async engine =>
        {
            await AuditRetentionTests.EntryAsync(engine, now, 400, "old");
            await AuditRetentionTests.EntryAsync(engine, now, 89, "kept");
        });
        await Eventually.ForAsync(async () => (await manager.Engine.Audit.ListAsync(new AuditQuery(Target: "old"))).Count == 0 ? "" : null,
            "the manager removes the entry older than its retention", manager.Node);
        Assert.Single(await manager.Engine.Audit.ListAsync(new AuditQuery(Target: "kept")));
        var archive = Path.Combine(new AuditRetention(manager.Engine).ArchiveFolder, $"audit-{now.AddDays(-400):yyyy-MM}.jsonl");
        Assert.Contains("\"target\":\"old\"", Assert.Single(await File.ReadAllLinesAsync(archive)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--audit-retention-days", "29", "--audit-retention-days must be at least 30; 29 was given")]
    [InlineData("--admin-requests-per-minute", "0", "--admin-requests-per-minute must be at least 1; 0 was given")]
    public async Task A_manager_option_out_of_range_is_refused_before_the_manager_starts(string option, string value, string message)
    {
        var home = Path.Combine(Path.GetTempPath(), "jp1dist-refused-" + Guid.NewGuid().ToString("N")[..8]);
        using var node = NodeProcess.Start(null, "manager", "--listen", "http://127.0.0.1:0", "--home", home, option, value);
        Assert.Equal(2, await node.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains(message, await node.OutputAsync(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(home), "nothing was created");
    }
}
