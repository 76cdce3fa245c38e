using System.Collections.Concurrent;

namespace JP1Dist.Core.Distribution;

/// <summary>
/// Wakes a host's long poll when work is queued for it, so new work arrives within a second of dispatch, and the polls
/// of the relays above it, since a relay polls for every host below it. The node tells it each host's higher system
/// (<see cref="Learn"/>), so a change for one host wakes that host and the relays on its way up, not every relay. A
/// host this node does not know (registered through another manager node) wakes every relay, as before.
/// <para>
/// Several manager nodes on one database each hold their own polls: what this node signals is also handed to
/// <see cref="Published"/>, which passes it to the other nodes (PostgreSQL NOTIFY), and what they signal arrives through
/// <see cref="NotifyHere"/> and <see cref="NotifyAllHere"/>, which wake this node's polls without passing it on again.
/// </para>
/// </summary>
public sealed class HostSignals
{
    /// <summary>Deeper than any relay chain: a guard against a cycle in what was learned.</summary>
    private const int MaxDepth = 64;

    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    /// <summary>Waits in progress by host; a host with none has no entry (a waiter in <see cref="_waiters"/> outlives its wait).</summary>
    private readonly ConcurrentDictionary<Guid, int> _waiting = new();
    private readonly ConcurrentDictionary<Guid, Guid?> _parents = new();
    private readonly ConcurrentDictionary<Guid, byte> _relays = new();
    private readonly ConcurrentDictionary<Guid, long> _versions = new();
    private long _relayPollsWoken;
    private long _epoch;

    /// <summary>Relay polls woken so far, each of which then reads its subtree's work again (GET /metrics).</summary>
    public long RelayPollsWoken => Interlocked.Read(ref _relayPollsWoken);

    /// <summary>
    /// Where the signals stand for a host: its own count of signals and the count of signals to every poll. Two equal marks
    /// mean nothing was signalled for the host in between, here or (through <see cref="NotifyHere"/>) by a peer node.
    /// </summary>
    public (long All, long Host) Mark(Guid hostId) => (Interlocked.Read(ref _epoch), _versions.GetValueOrDefault(hostId));

    /// <summary>
    /// Whether a poll of the host waits on this node now: a wait is in progress (<see cref="WaitAsync(Guid, TimeSpan, Task)"/>,
    /// which a poll starts before each look and ends when it answers, <see cref="PollEnd"/>). A host that moved to a relay
    /// or another node, or went offline, waits nowhere here.
    /// </summary>
    public bool Waits(Guid hostId) => _waiting.ContainsKey(hostId);

    /// <summary>Records a host's higher system (null: this node itself), at registration or when the node starts.</summary>
    public void Learn(Guid hostId, Guid? parentId) => _parents[hostId] = parentId;

    /// <summary>
    /// Told of every signal made on this node (the hosts named, or null for every poll), after it woke this node's polls:
    /// the manager's link to its peer nodes. Null when there is none (one node, or a session's engine).
    /// </summary>
    public Action<IReadOnlyCollection<Guid>?>? Published { get; set; }

    /// <summary>Wakes every poll of these hosts that is waiting now, and the polls of the relays above them, here and on the peer nodes.</summary>
    public void Notify(IEnumerable<Guid> hostIds)
    {
        var named = hostIds as IReadOnlyCollection<Guid> ?? hostIds.ToList();
        NotifyHere(named);
        if (named.Count > 0)
        {
            Published?.Invoke(named);
        }
    }

    /// <summary>
    /// <see cref="Notify(IEnumerable{Guid})"/>, for hosts whose polls' answers are made before the signal: <paramref name="marked"/> is told each
    /// named host's mark as this signal makes it, before the host's poll is woken, so that an answer is kept for exactly the
    /// poll this signal wakes (another signal makes another mark).
    /// </summary>
    public void Notify(IReadOnlyCollection<Guid> hostIds, Action<Guid, (long All, long Host)> marked)
    {
        WakeNamed(hostIds, marked);
        if (hostIds.Count > 0)
        {
            Published?.Invoke(hostIds);
        }
    }

    /// <summary>What <see cref="Notify(IEnumerable{Guid})"/> does on this node only: for a signal that came from a peer node.</summary>
    public void NotifyHere(IEnumerable<Guid> hostIds) => WakeNamed(hostIds, null);

    /// <summary>Wakes the polls of these hosts and of the relays above them on this node.</summary>
    private void WakeNamed(IEnumerable<Guid> hostIds, Action<Guid, (long All, long Host)>? marked)
    {
        var woken = new HashSet<Guid>();
        var unknown = false;
        foreach (var id in hostIds)
        {
            if (!woken.Add(id))
            {
                continue;
            }
            Wake(id, marked);
            if (!_parents.TryGetValue(id, out var parent))
            {
                unknown = true;
                continue;
            }
            for (var depth = 0; parent is { } above && depth < MaxDepth && woken.Add(above); depth++)
            {
                Wake(above);
                _parents.TryGetValue(above, out parent);
            }
        }
        if (unknown)
        {
            foreach (var relay in _relays.Keys)
            {
                Wake(relay);
            }
        }
    }

    /// <summary>
    /// Changes the hosts' marks without waking their polls or telling the peer nodes: an answer kept from before (a quiet
    /// host's) no longer holds, and a poll that starts now looks, while the polls that wait go on waiting for the signal
    /// that follows (a dispatch's, once their answers are ready).
    /// </summary>
    public void Stir(IEnumerable<Guid> hostIds)
    {
        foreach (var id in hostIds)
        {
            Count(id);
        }
    }

    private long Count(Guid id) => _versions.AddOrUpdate(id, 1, (_, version) => version + 1);

    private void Wake(Guid id, Action<Guid, (long All, long Host)>? marked = null)
    {
        var version = Count(id);
        marked?.Invoke(id, (Interlocked.Read(ref _epoch), version));
        if (_waiters.TryRemove(id, out var waiter))
        {
            waiter.TrySetResult();
            if (_relays.ContainsKey(id))
            {
                Interlocked.Increment(ref _relayPollsWoken);
            }
        }
    }

    /// <summary>Wakes every waiting poll (a resumed job: its hosts ask again at once), here and on the peer nodes.</summary>
    public void NotifyAll()
    {
        NotifyAllHere();
        Published?.Invoke(null);
    }

    /// <summary>What <see cref="NotifyAll"/> does on this node only: for a signal that came from a peer node.</summary>
    public void NotifyAllHere()
    {
        Interlocked.Increment(ref _epoch);
        foreach (var id in _waiters.Keys)
        {
            Wake(id);
        }
    }

    /// <summary>
    /// A task that completes when <see cref="Notify(IEnumerable{Guid})"/> names the host (true), when <paramref name="timeout"/> has passed (at most
    /// a tenth of a second later; never for <see cref="Timeout.InfiniteTimeSpan"/>) or when <paramref name="cancellationToken"/> is canceled (false), and never
    /// faults; one waiter per host is shared.
    /// </summary>
    /// <remarks>
    /// Every waiting poll ends its wait this way several times a minute, so the timeout ends a delay instead of faulting a
    /// task with a TimeoutException: with 10,000 agents polling, those exceptions and their finalizers cost the manager
    /// about a tenth of its CPU.
    /// </remarks>
    public async Task<bool> WaitAsync(Guid hostId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var end = new PollEnd(cancellationToken);
        return await WaitAsync(hostId, timeout, end.Task);
    }

    /// <summary>
    /// The same, ended by <paramref name="ended"/> (false) instead of a token: a poll's <see cref="PollEnd"/>, which also ends
    /// a wait the poll started before a look and then answered without awaiting.
    /// </summary>
    public async Task<bool> WaitAsync(Guid hostId, TimeSpan timeout, Task ended)
    {
        var waiter = _waiters.GetOrAdd(hostId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (waiter.Task.IsCompleted || (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan) || ended.IsCompleted)
        {
            return waiter.Task.IsCompleted;
        }
        // The end of the wait shares one timer with every other wait (CoarseDeadlines), not one of its own.
        var due = timeout == Timeout.InfiniteTimeSpan ? null : CoarseDeadlines.After(timeout);
        _waiting.AddOrUpdate(hostId, 1, static (_, count) => count + 1);
        try
        {
            var first = due is null ? await Task.WhenAny(waiter.Task, ended) : await Task.WhenAny(waiter.Task, due, ended);
            return first == waiter.Task;
        }
        finally
        {
            // The last wait of the host takes its entry away; one that began meanwhile made the count other than 0 and keeps it.
            if (_waiting.AddOrUpdate(hostId, 0, static (_, count) => count - 1) == 0)
            {
                _waiting.TryRemove(new KeyValuePair<Guid, int>(hostId, 0));
            }
        }
    }

    /// <summary>
    /// A relay's poll for its subtree: completes when <see cref="Notify(IEnumerable{Guid})"/> names the relay or a host below it (or a
    /// host this node does not know). It shares the relay's key with the relay's own poll as a client.
    /// </summary>
    public Task<bool> WaitForRelayAsync(Guid relayId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        _relays.TryAdd(relayId, 0);
        return WaitAsync(relayId, timeout, cancellationToken);
    }

    /// <summary>The same, ended by a poll's <see cref="PollEnd"/>.</summary>
    public Task<bool> WaitForRelayAsync(Guid relayId, TimeSpan timeout, Task ended)
    {
        _relays.TryAdd(relayId, 0);
        return WaitAsync(relayId, timeout, ended);
    }
}

/// <summary>
/// The end of a poll's waits (<see cref="HostSignals.WaitAsync(Guid, TimeSpan, Task)"/>): its token canceled, or the poll
/// done (<see cref="Dispose"/>). A poll subscribes before each look, so a look that finds something leaves a wait it
/// does not await: ending it at once frees its place and keeps <see cref="HostSignals.Waits"/> exact.
/// </summary>
public sealed class PollEnd : IDisposable
{
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenRegistration _registration;

    /// <summary>Ends when <paramref name="cancellationToken"/> is canceled (a token that cannot be registers nothing) or at <see cref="Dispose"/>.</summary>
    public PollEnd(CancellationToken cancellationToken) =>
        _registration = cancellationToken.UnsafeRegister(static state => ((TaskCompletionSource)state!).TrySetResult(), _ended);

    /// <summary>Completes when the poll ends.</summary>
    public Task Task => _ended.Task;

    public void Dispose()
    {
        _registration.Dispose();
        _ended.TrySetResult();
    }
}
