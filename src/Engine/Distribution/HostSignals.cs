using System.Collections.Concurrent;

namespace JP1Dist.Engine.Distribution;

/// <summary>Wakes a host's long poll when work is queued for it, so new work arrives within a second of dispatch.</summary>
public sealed class HostSignals
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    /// <summary>Wakes every poll of these hosts that is waiting now.</summary>
    public void Notify(IEnumerable<Guid> hostIds)
    {
        foreach (var id in hostIds)
        {
            if (_waiters.TryRemove(id, out var waiter))
            {
                waiter.TrySetResult();
            }
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
