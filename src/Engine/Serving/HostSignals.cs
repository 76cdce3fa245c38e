using System.Collections.Concurrent;

namespace JP1Dist.Engine.Serving;

/// <summary>
/// Wakes a host's long poll when work is queued for it, so new work arrives within a second of dispatch. Relays poll
/// for every host below them, so any notification also wakes the relays' polls (<see cref="AnyHost"/>).
/// </summary>
public sealed class HostSignals
{
    /// <summary>The key relay polls wait on: woken whenever any host is.</summary>
    public static readonly Guid AnyHost = Guid.Empty;

    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    /// <summary>Wakes every poll of these hosts that is waiting now, and every relay poll.</summary>
    public void Notify(IEnumerable<Guid> hostIds)
    {
        var any = false;
        foreach (var id in hostIds)
        {
            any = true;
            Wake(id);
        }
        if (any)
        {
            Wake(AnyHost);
        }
    }

    private void Wake(Guid id)
    {
        if (_waiters.TryRemove(id, out var waiter))
        {
            waiter.TrySetResult();
        }
    }

    /// <summary>Wakes every waiting poll (a resumed job: its hosts ask again at once).</summary>
    public void NotifyAll() => Notify(_waiters.Keys.ToArray());

    /// <summary>A task that completes when <see cref="Notify"/> names the host; one waiter per host is shared.</summary>
    public Task WaitAsync(Guid hostId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var waiter = _waiters.GetOrAdd(hostId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        return waiter.Task.WaitAsync(timeout, cancellationToken).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
