
namespace JP1Dist.Core.Distribution;

/// <summary>The long-poll loop every node uses: look, and if there is nothing, wait for a signal (or a periodic re-check).</summary>
public static class LongPoll
{
    /// <summary>How often a waiting poll looks again without a signal (some other writer may have queued work).</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Looks until <paramref name="look"/> finds something or <paramref name="wait"/> has passed. It subscribes before
    /// each look, so a signal between the look and the wait is not missed.
    /// </summary>
    public static Task<IReadOnlyList<T>> WaitAsync<T>(HostSignals signals, Guid key, TimeSpan wait, TimeProvider time,
        Func<CancellationToken, Task<IReadOnlyList<T>>> look, CancellationToken cancellationToken) =>
        WaitAsync(signals, key, wait, time, look, found => found.Count > 0, cancellationToken);

    /// <summary>Looks until what <paramref name="look"/> finds is <paramref name="something"/>, or <paramref name="wait"/> has passed.</summary>
    public static async Task<T> WaitAsync<T>(HostSignals signals, Guid key, TimeSpan wait, TimeProvider time,
        Func<CancellationToken, Task<T>> look, Func<T, bool> something, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            var remaining = deadline - time.GetUtcNow();
            var signal = signals.WaitAsync(key, remaining > RecheckInterval ? RecheckInterval : remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, cancellationToken);
            var found = await look(cancellationToken);
            if (something(found) || remaining <= TimeSpan.Zero)
            {
                return found;
            }
            await signal;
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
