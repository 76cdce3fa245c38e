using System.Collections.Concurrent;

namespace JP1Dist.Core.Distribution;

/// <summary>
/// The ends of a node's long waits, to a tenth of a second, on one timer for the whole process: every agent's poll waits
/// up to 30 s, and with 10,000 of them waiting a timer each made the runtime's timer queue walk ten thousand timers as
/// each fired, 333 times a second (about a tenth of the idle manager's CPU, docs/benchmarks.md). Here the waits that end
/// in the same tenth of a second share one task, and one tick every tenth of a second completes those that came due.
/// </summary>
internal static class CoarseDeadlines
{
    /// <summary>How much later than asked a wait may end: the tick.</summary>
    public const int ResolutionMilliseconds = 100;

    private static readonly ConcurrentDictionary<long, TaskCompletionSource> Slots = new();
    // Every slot up to this one is complete: a wait that finds its slot here completes it itself.
    private static long _done = Environment.TickCount64 / ResolutionMilliseconds;
    private static int _ticking;
    private static readonly Timer Ticker = new(_ => Tick(), null, ResolutionMilliseconds, ResolutionMilliseconds);

    /// <summary>
    /// A task that completes once <paramref name="delay"/> has passed (never earlier, at most a tick later) and never faults.
    /// Not for <see cref="Timeout.InfiniteTimeSpan"/>.
    /// </summary>
    public static Task After(TimeSpan delay)
    {
        GC.KeepAlive(Ticker);
        if (delay <= TimeSpan.Zero)
        {
            return Task.CompletedTask;
        }
        var milliseconds = (long)Math.Min(Math.Ceiling(delay.TotalMilliseconds), TimeSpan.FromDays(365).TotalMilliseconds);
        // The first slot whose start is at or past the deadline: its tick comes no earlier than the deadline.
        var slot = (Environment.TickCount64 + milliseconds + ResolutionMilliseconds - 1) / ResolutionMilliseconds;
        var due = Slots.GetOrAdd(slot, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        // A tick marks a slot done before it takes the slot's task out: a task added after that is completed here.
        if (slot <= Volatile.Read(ref _done))
        {
            Slots.TryRemove(new KeyValuePair<long, TaskCompletionSource>(slot, due));
            due.TrySetResult();
        }
        return due.Task;
    }

    private static void Tick()
    {
        // A tick that runs late must not overlap the next one.
        if (Interlocked.Exchange(ref _ticking, 1) == 1)
        {
            return;
        }
        try
        {
            var now = Environment.TickCount64 / ResolutionMilliseconds;
            for (var slot = Volatile.Read(ref _done) + 1; slot <= now; slot++)
            {
                Volatile.Write(ref _done, slot);
                if (Slots.TryRemove(slot, out var due))
                {
                    due.TrySetResult();
                }
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }
}
