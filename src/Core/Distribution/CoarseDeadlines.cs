using System.Collections.Concurrent;

namespace JP1Dist.Core.Distribution;

/// <summary>
/// The ends of a node's long waits, to a tenth of a second, on one timer for the whole process: every agent's poll waits
/// up to 30 s, and with 10,000 of them waiting a timer each made the runtime's timer queue walk ten thousand timers as
/// each fired, 333 times a second (about a tenth of the idle manager's CPU, docs/benchmarks.md). Here the waits that end
/// in the same tenth of a second are kept together, and one tick every tenth of a second completes those that came due.
/// </summary>
/// <remarks>
/// Each wait has a task of its own, not one shared by its slot: a wait that ends early (its host signalled) takes its
/// continuation off the task it awaited (Task.WhenAny does), a search of that task's continuations, so a shared task made
/// the thousands of waits that begin together (agents polling again after a job, or after the manager restarted) cost a
/// search of thousands each. A task that ended early stays in its slot, completed for nobody at its tick.
/// </remarks>
internal static class CoarseDeadlines
{
    /// <summary>How much later than asked a wait may end: the tick.</summary>
    public const int ResolutionMilliseconds = 100;

    private static readonly ConcurrentDictionary<long, ConcurrentQueue<TaskCompletionSource>> Slots = new();
    // Every slot up to this one is complete: a wait that finds its slot here completes its task itself.
    private static long _done = Environment.TickCount64 / ResolutionMilliseconds;
    private static int _ticking;
    private static readonly Timer Ticker = new(_ => Tick(), null, ResolutionMilliseconds, ResolutionMilliseconds);

    /// <summary>
    /// A task of its own that completes once <paramref name="delay"/> has passed (never earlier, at most a tick later) and
    /// never faults. Not for <see cref="Timeout.InfiniteTimeSpan"/>.
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
        var due = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waits = Slots.GetOrAdd(slot, static _ => new ConcurrentQueue<TaskCompletionSource>());
        waits.Enqueue(due);
        // A tick marks a slot done before it takes the slot's waits out: one added after that is completed here.
        if (slot <= Volatile.Read(ref _done))
        {
            Slots.TryRemove(new KeyValuePair<long, ConcurrentQueue<TaskCompletionSource>>(slot, waits));
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
                if (Slots.TryRemove(slot, out var waits))
                {
                    while (waits.TryDequeue(out var due))
                    {
                        due.TrySetResult();
                    }
                }
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }
}
