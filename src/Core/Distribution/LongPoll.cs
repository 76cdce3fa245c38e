namespace JP1Dist.Core.Distribution;

/// <summary>The long-poll loop every node uses: look, and if there is nothing, wait for a signal or the end of the wait.</summary>
public static class LongPoll
{
    /// <summary>
    /// How often the waits that are few (a relay's poll for its subtree, a status wait in the manager) look again without
    /// a signal: some other writer may have changed what they watch. A host's poll does not: it looks when it starts, when a
    /// signal names its host, and at its next poll (<see cref="WaitAsync{T}(HostSignals, Guid, TimeSpan, TimeProvider, Func{CancellationToken, Task{T}}, Func{T, bool}, CancellationToken)"/>).
    /// </summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Looks until <paramref name="look"/> finds something or <paramref name="wait"/> has passed. It subscribes before
    /// each look, so a signal between the look and the wait is not missed.
    /// </summary>
    public static Task<IReadOnlyList<T>> WaitAsync<T>(HostSignals signals, Guid key, TimeSpan wait, TimeProvider time,
        Func<CancellationToken, Task<IReadOnlyList<T>>> look, CancellationToken cancellationToken) =>
        WaitAsync(signals, key, wait, time, look, found => found.Count > 0, cancellationToken);

    /// <summary>
    /// Looks until what <paramref name="look"/> finds is <paramref name="something"/>, or <paramref name="wait"/> has passed:
    /// once at the start, then again only when a signal names <paramref name="key"/>. When the wait ends without one, the
    /// answer is the last look's.
    /// </summary>
    /// <remarks>
    /// A wait does not look again on a timer, nor at its end: every writer in this process signals the hosts it gives
    /// work, the other manager nodes' signals arrive through <see cref="HostSignals.NotifyHere"/>, and a cmdlet's nudge wakes
    /// every poll. What a lost signal would have announced is seen at the host's next poll, which looks as it starts, at most
    /// one poll wait later. With 10,000 agents waiting, a look on a timer and at the end of every wait were two of every
    /// three looks the manager made while idle.
    /// </remarks>
    public static async Task<T> WaitAsync<T>(HostSignals signals, Guid key, TimeSpan wait, TimeProvider time,
        Func<CancellationToken, Task<T>> look, Func<T, bool> something, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        // Ends the wait a look that found something leaves behind, as the poll answers.
        using var end = new PollEnd(cancellationToken);
        while (true)
        {
            var remaining = deadline - time.GetUtcNow();
            var signal = signals.WaitAsync(key, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, end.Task);
            var found = await look(cancellationToken);
            if (something(found) || remaining <= TimeSpan.Zero)
            {
                return found;
            }
            var signalled = await signal;
            cancellationToken.ThrowIfCancellationRequested();
            if (!signalled)
            {
                return found; // the wait ended with no signal: nothing to look at again
            }
        }
    }
}
