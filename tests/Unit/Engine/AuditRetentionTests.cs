using System.Data.Common;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Audit;
using JP1Dist.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// The audit log's retention: the sweep archives and removes only entries older than the retention, refuses a retention
/// below 30 days, and the database still refuses to remove an entry younger than 30 days or to change any.
/// </summary>
public sealed class AuditRetentionTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    public void Dispose() => _folder.Dispose();

    /// <summary>One entry made <paramref name="daysAgo"/> days ago (a host group created by an engine whose clock says so).</summary>
    internal static async Task EntryAsync(DistEngine engine, DateTimeOffset now, int daysAgo, string group)
    {
        var then = new DistEngine(engine.Folder, new FixedClock(now.AddDays(-daysAgo)));
        await then.HostGroups.CreateAsync(group, null);
    }

    private async Task<List<string>> TargetsAsync() =>
        (await _folder.Engine.Audit.ListAsync(new AuditQuery(Operation: DistOperations.NewHostGroup))).Select(e => e.Target).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task Entries_older_than_the_retention_are_archived_then_removed_and_the_rest_kept()
    {
        foreach (var (days, group) in new[] { (400, "g400"), (100, "g100"), (40, "g40"), (0, "g0") })
        {
            await EntryAsync(_folder.Engine, _now, days, group);
        }
        var retention = new AuditRetention(_folder.Engine);

        Assert.Equal(2, await retention.SweepAsync(TimeSpan.FromDays(90)));
        Assert.Equal(["g0", "g40"], await TargetsAsync());
        var archived = Directory.GetFiles(retention.ArchiveFolder, "audit-*.jsonl").SelectMany(File.ReadAllLines)
            .Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["g100", "g400"], archived.Select(e => e.GetProperty("target").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(archived, e => Assert.Equal((DistOperations.NewHostGroup, "Succeeded", JsonValueKind.Object),
            (e.GetProperty("operation").GetString(), e.GetProperty("outcome").GetString(), e.GetProperty("parameters").ValueKind)));
        Assert.Contains(Directory.GetFiles(retention.ArchiveFolder), f => Path.GetFileName(f) == $"audit-{_now.AddDays(-400):yyyy-MM}.jsonl");
        if (!OperatingSystem.IsWindows())
        {
            foreach (var file in Directory.GetFiles(retention.ArchiveFolder))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }
        }

        // Nothing left to remove: nothing archived twice. At the minimum (30 days) the 40-day-old entry goes too.
        Assert.Equal(0, await retention.SweepAsync(TimeSpan.FromDays(90)));
        Assert.Equal(1, await retention.SweepAsync(AuditRetention.Minimum));
        Assert.Equal(["g0"], await TargetsAsync());
        Assert.Equal(3, Directory.GetFiles(retention.ArchiveFolder).SelectMany(File.ReadAllLines).Count());
    }

    [Fact]
    public async Task A_retention_below_30_days_is_refused_and_removes_nothing()
    {
        await EntryAsync(_folder.Engine, _now, 40, "g40");
        var e = await Assert.ThrowsAsync<DistException>(() => new AuditRetention(_folder.Engine).SweepAsync(TimeSpan.FromDays(29)));
        Assert.Equal(("AuditRetentionTooShort", DistErrorKind.InvalidArgument), (e.ErrorId, e.Kind));
        Assert.Contains("at least 30 days; 29 days", e.Message, StringComparison.Ordinal);
        Assert.Equal(["g40"], await TargetsAsync());
    }

    [Fact]
    public async Task The_database_refuses_to_remove_an_entry_younger_than_30_days_or_to_change_any_entry()
    {
        await EntryAsync(_folder.Engine, _now, 400, "old");
        await EntryAsync(_folder.Engine, _now, 29, "recent");
        await EntryAsync(_folder.Engine, _now, 0, "new");
        await using var db = _folder.Engine.Database.CreateContext();
        foreach (var target in new[] { "recent", "new" })
        {
            var delete = await Assert.ThrowsAnyAsync<DbException>(() => db.AuditEntries.Where(a => a.Target == target).ExecuteDeleteAsync());
            Assert.Contains("append-only", delete.Message, StringComparison.Ordinal);
        }
        await Assert.ThrowsAnyAsync<DbException>(() => db.Database.ExecuteSqlRawAsync("DELETE FROM \"AuditEntries\""));
        foreach (var target in new[] { "old", "new" })
        {
            var update = await Assert.ThrowsAnyAsync<DbException>(() => db.AuditEntries.Where(a => a.Target == target)
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.Principal, "someone else")));
            Assert.Contains("append-only", update.Message, StringComparison.Ordinal);
        }
        Assert.Equal(["new", "old", "recent"], await TargetsAsync());
    }

    /// <summary>A clock that always says the same time.</summary>
    internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
