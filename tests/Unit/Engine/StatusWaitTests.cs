using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// The wait on jobs' status (Wait-DistJob's long poll): answered at once without a version or when the version is not
/// current, woken by a change of targets, at its bound otherwise, and stopped at once by cancellation. The clock is a
/// manual one that moves only when the test moves it, so what ends a wait is known, not timed.
/// </summary>
public sealed class StatusWaitTests : IDisposable
{
    private readonly ManualClock _clock = new(DateTimeOffset.UtcNow);
    private readonly TestFolder _folder;
    private readonly DistributionService _distribution;

    public StatusWaitTests()
    {
        _folder = new TestFolder(_clock);
        // As in the manager: only a signal (or the wait's bound) makes the wait look again.
        _folder.Engine.TargetChanges.RecheckInterval = TimeSpan.FromHours(1);
        _distribution = new DistributionService(_folder.Engine, new HostSignals());
        _folder.WriteFile("pkg/setup.sh", "exit 0");
    }

    public void Dispose() => _folder.Dispose();

    private async Task<Guid> StartedJobAsync()
    {
        var host = await _folder.RegisterHostAsync("pc-a");
        await _folder.RegisterHostAsync("pc-b");
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["pc-a", "pc-b"]));
        await _distribution.DispatchAsync((await _folder.Engine.Jobs.StartAsync("Deploy")).ExecutionId, default);
        return host.HostId;
    }

    /// <summary>Moves the clock in small steps until the wait ends (at most <paramref name="limit"/> of clock time), giving its continuations real time to run.</summary>
    private async Task<DistJobStatusChange> DriveAsync(Task<DistJobStatusChange> wait, TimeSpan limit, int stepMilliseconds = 50)
    {
        for (var moved = TimeSpan.Zero; !wait.IsCompleted && moved < limit; moved += TimeSpan.FromMilliseconds(stepMilliseconds))
        {
            await Task.Delay(50);
            _clock.Advance(TimeSpan.FromMilliseconds(stepMilliseconds));
        }
        Assert.True(wait.IsCompleted, $"the wait did not end within {limit.TotalSeconds} s of clock time");
        return await wait;
    }

    [Fact]
    public async Task Without_a_version_or_with_one_that_is_not_current_the_wait_answers_at_once()
    {
        await StartedJobAsync();
        var first = await _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], null, DistJobStatusChange.MaxWait);
        Assert.Equal(["pc-a", "pc-b"], first.Jobs.Single().Select(s => s.HostName));
        Assert.All(first.Jobs.Single(), s => Assert.Equal(TargetStatus.Queued, s.Status));
        var again = await _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], "not the current version", DistJobStatusChange.MaxWait);
        Assert.Equal(first.Version, again.Version);
        var now = await _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], first.Version, TimeSpan.Zero);
        Assert.Equal(first.Version, now.Version);
    }

    [Fact]
    public async Task A_wait_on_the_current_version_is_answered_by_a_report_of_one_of_its_targets_long_before_its_bound()
    {
        var host = await StartedJobAsync();
        var first = await _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], null, TimeSpan.Zero);
        var wait = _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], first.Version, DistJobStatusChange.MaxWait);
        var item = (await _distribution.GetWorkAsync(host, default)).Single();
        Assert.True((await _distribution.ReportAsync(host, new ReportRequest(item.WorkItemId, "Transferring", BytesTransferred: 10), default)).Accepted);

        // Five seconds of clock time at most: the bound (30 s) cannot end it, and nothing looks again before an hour.
        var changed = await DriveAsync(wait, TimeSpan.FromSeconds(5));
        Assert.NotEqual(first.Version, changed.Version);
        Assert.Equal((TargetStatus.Transferring, 10L), changed.Jobs.Single().Where(s => s.HostName == "pc-a").Select(s => (s.Status, s.BytesTransferred)).Single());
    }

    [Fact]
    public async Task A_change_announced_by_a_nudge_answers_the_wait_and_without_any_change_it_answers_at_its_bound_with_the_same_version()
    {
        await StartedJobAsync();
        var first = await _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], null, TimeSpan.Zero);
        var idle = _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], first.Version, TimeSpan.FromSeconds(10));
        var same = await DriveAsync(idle, TimeSpan.FromSeconds(20), stepMilliseconds: 1000);
        Assert.Equal(first.Version, same.Version);

        // Suspend-DistJob in this process nudges (no manager runs: the nudge reaches only this process's waits).
        var wait = _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], first.Version, DistJobStatusChange.MaxWait);
        await _folder.Engine.Jobs.ControlAsync("Deploy", ["pc-b"], JobControlAction.Suspend);
        var changed = await DriveAsync(wait, TimeSpan.FromSeconds(5));
        Assert.Equal(TargetStatus.Suspended, changed.Jobs.Single().Single(s => s.HostName == "pc-b").Status);
    }

    [Fact]
    public async Task A_waiting_call_stops_at_once_when_canceled_and_bad_input_is_refused()
    {
        await StartedJobAsync();
        var first = await _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], null, TimeSpan.Zero);
        using var stop = new CancellationTokenSource();
        var wait = _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], first.Version, DistJobStatusChange.MaxWait, stop.Token);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);

        Assert.Equal("WaitJobNamesInvalid", (await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Jobs.WaitForStatusChangeAsync([], null, TimeSpan.Zero))).ErrorId);
        Assert.Equal("WaitInvalid", (await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Jobs.WaitForStatusChangeAsync(["Deploy"], null, TimeSpan.FromSeconds(-1)))).ErrorId);
        Assert.Equal("JobNotFound", (await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Jobs.WaitForStatusChangeAsync(["Nothing"], null, TimeSpan.Zero))).ErrorId);
    }

    /// <summary>A clock that moves only by <see cref="Advance"/>, firing the timers that fall due.</summary>
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private readonly object _gate = new();
        private readonly List<ManualTimer> _timers = [];
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow()
        {
            lock (_gate)
            {
                return _now;
            }
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(this, callback, state);
            timer.Change(dueTime, period);
            return timer;
        }

        public void Advance(TimeSpan by)
        {
            List<ManualTimer> due;
            lock (_gate)
            {
                _now += by;
                due = _timers.Where(t => t.Due <= _now).ToList();
                _timers.RemoveAll(due.Contains);
            }
            foreach (var timer in due)
            {
                timer.Fire();
            }
        }

        private sealed class ManualTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
        {
            public DateTimeOffset Due { get; private set; }

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                lock (clock._gate)
                {
                    clock._timers.Remove(this);
                    if (dueTime != Timeout.InfiniteTimeSpan)
                    {
                        Due = clock._now + dueTime;
                        clock._timers.Add(this);
                    }
                }
                return true;
            }

            public void Fire() => callback(state);

            public void Dispose()
            {
                lock (clock._gate)
                {
                    clock._timers.Remove(this);
                }
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
