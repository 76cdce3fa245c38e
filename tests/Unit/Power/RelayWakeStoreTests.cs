using JP1Dist.Protocol;
using JP1Dist.Protocol.Power;
using JP1Dist.Server.Relay;
using Xunit;

namespace JP1Dist.Tests.Power;

/// <summary>What a relay keeps of the wake orders it acted on: each recorded once with its report queued once, expired ones forgotten.</summary>
public sealed class RelayWakeStoreTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "jp1dist-wakestore-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public async Task A_send_is_recorded_with_its_report_once_and_forgotten_after_its_expiry()
    {
        var now = new DateTime(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);
        var relayId = Guid.NewGuid();
        var old = Guid.NewGuid();
        var order = Guid.NewGuid();
        ReportRequest Report(Guid id) => new(id, PowerReports.WakeSent, Message: "Woken.");
        using (var store = new RelayStore(Path.Combine(_folder, "relay.db")))
        {
            Assert.True(await store.RecordWakeSentAsync(old, now.AddHours(-2), new RelayBatchEntry(0, relayId, Report(old)), now.AddDays(-1), CancellationToken.None));
            Assert.True(await store.RecordWakeSentAsync(order, now.AddMinutes(10), new RelayBatchEntry(0, relayId, Report(order)), now.AddMinutes(-10), CancellationToken.None));
            // Recorded again (a send whose record was not seen): nothing more is queued.
            Assert.False(await store.RecordWakeSentAsync(order, now.AddMinutes(10), new RelayBatchEntry(0, relayId, Report(order)), now.AddMinutes(-10), CancellationToken.None));
            Assert.Equal([old, order], store.PeekOutbox(10).Select(e => e.Entry.Report!.WorkItemId));
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using (var reopened = new RelayStore(Path.Combine(_folder, "relay.db")))
        {
            // The order that expired before the last record's bound is gone; the other survives a restart.
            Assert.Equal([order], reopened.LoadWakeSent().Keys);
            Assert.Equal(now.AddMinutes(10), reopened.LoadWakeSent()[order]);
        }
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
