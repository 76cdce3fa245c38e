using JP1Dist.Server.Manager;
using JP1Dist.Tests.Engine;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Hosts' last-seen times are noted by the requests and written together: the latest time of each host, never back, never
/// past now; kept for the next write when one fails, and written at a clean stop.
/// </summary>
public sealed class LastSeenRecorderTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private async Task<DateTime> LastSeenAsync(Guid hostId)
    {
        await using var db = _folder.Engine.Database.CreateContext();
        return await db.Hosts.AsNoTracking().Where(h => h.Id == hostId).Select(h => h.LastSeen).SingleAsync();
    }

    /// <summary>A registered host last seen an hour ago (times are kept to the second: a registration just now would equal them).</summary>
    private async Task<Guid> HostSeenAnHourAgoAsync(string name)
    {
        var hostId = (await _folder.RegisterHostAsync(name)).HostId;
        await using var db = _folder.Engine.Database.CreateContext();
        var hourAgo = DateTime.UtcNow.AddHours(-1);
        await db.Hosts.Where(h => h.Id == hostId).ExecuteUpdateAsync(s => s.SetProperty(h => h.LastSeen, hourAgo));
        return hostId;
    }

    private static DateTime Second(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);

    [Fact]
    public async Task The_latest_time_of_each_host_is_written_together_never_back_and_never_past_now()
    {
        var a = await HostSeenAnHourAgoAsync("pc-a");
        var b = await HostSeenAnHourAgoAsync("pc-b");
        var c = (await _folder.RegisterHostAsync("pc-c")).HostId;
        var registeredC = await LastSeenAsync(c);
        var recorder = new LastSeenRecorder(_folder.Engine, NullLogger<LastSeenRecorder>.Instance);
        var later = Second(DateTime.UtcNow.AddMinutes(5));

        recorder.Note(a, later.AddSeconds(-30));
        recorder.Note(a, later);
        recorder.Note(a, later.AddSeconds(-10)); // an older time noted after does not replace the later one
        recorder.Note(b, DateTime.UtcNow.AddDays(1)); // a relay's clock ahead: written as now
        recorder.Note(c, registeredC.AddHours(-1)); // before what is stored: nothing moves back
        Assert.Equal(3, recorder.Pending);
        await recorder.WriteAsync(CancellationToken.None);

        Assert.Equal(0, recorder.Pending);
        // The engine's now (system time here) is earlier than "later": a's time is written as now too.
        Assert.InRange(await LastSeenAsync(a), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow);
        Assert.InRange(await LastSeenAsync(b), DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow);
        Assert.Equal(registeredC, await LastSeenAsync(c));
    }

    [Fact]
    public async Task Times_of_a_write_that_fails_are_written_by_the_next()
    {
        var a = await HostSeenAnHourAgoAsync("pc-a");
        var before = await LastSeenAsync(a);
        var recorder = new LastSeenRecorder(_folder.Engine, NullLogger<LastSeenRecorder>.Instance);
        var seen = DateTime.UtcNow;
        recorder.Note(a, seen);

        using (var canceled = new CancellationTokenSource())
        {
            await canceled.CancelAsync();
            await recorder.WriteAsync(canceled.Token); // fails inside the shared write; never throws
        }
        Assert.Equal(before, await LastSeenAsync(a));
        Assert.Equal(1, recorder.Pending);

        await recorder.WriteAsync(CancellationToken.None);
        Assert.Equal(0, recorder.Pending);
        Assert.True(await LastSeenAsync(a) > before);
    }

    [Fact]
    public async Task What_was_noted_is_written_at_a_clean_stop()
    {
        var a = await HostSeenAnHourAgoAsync("pc-a");
        var before = await LastSeenAsync(a);
        var recorder = new LastSeenRecorder(_folder.Engine, NullLogger<LastSeenRecorder>.Instance);
        await recorder.StartAsync(CancellationToken.None);
        await Task.Delay(10);
        recorder.Note(a, DateTime.UtcNow);
        await recorder.StopAsync(CancellationToken.None);

        Assert.Equal(0, recorder.Pending);
        Assert.True(await LastSeenAsync(a) > before);
    }
}
