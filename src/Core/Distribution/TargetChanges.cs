namespace JP1Dist.Core.Distribution;

/// <summary>
/// "The targets of some job changed": what a wait for a job's status (Wait-DistJob, locally or through the admin API)
/// waits on between looks. The manager signals it for every change it makes itself (dispatch, reports, retries) and for
/// every nudge, which is how a cmdlet that changed targets in another process (Start-, Restart-, Suspend-, Resume-,
/// Stop-DistJob) tells it. A change nobody signals (a process that could not nudge) is seen at the next look,
/// <see cref="RecheckInterval"/> later at most.
/// </summary>
public sealed class TargetChanges
{
    /// <summary>Made when a wait asks for it, so the manager's hot path (every report) allocates nothing while nobody waits.</summary>
    private TaskCompletionSource? _next;

    /// <summary>
    /// How long a wait goes without looking again when nothing signals it. A session's engine is told of no change the
    /// manager makes, so it looks every 250 ms (as Wait-DistJob always did); the manager, signalled for its own changes
    /// and every nudge, looks every <see cref="LongPoll.RecheckInterval"/>.
    /// </summary>
    public TimeSpan RecheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Completes at the next <see cref="Notify"/>: take it before looking, so a change between the look and the wait is not missed.</summary>
    public Task Next
    {
        get
        {
            if (Volatile.Read(ref _next) is { } current)
            {
                return current.Task;
            }
            var created = New();
            return (Interlocked.CompareExchange(ref _next, created, null) ?? created).Task;
        }
    }

    /// <summary>
    /// Told of every change signalled on this node: the manager's link to its peer nodes (PostgreSQL NOTIFY), whose waits
    /// look again too. Null when there is none.
    /// </summary>
    public Action? Published { get; set; }

    /// <summary>Wakes every wait now waiting, here and on the peer nodes.</summary>
    public void Notify()
    {
        NotifyHere();
        Published?.Invoke();
    }

    /// <summary>Wakes every wait of this node now waiting: for a change a peer node signalled.</summary>
    public void NotifyHere() => Interlocked.Exchange(ref _next, null)?.TrySetResult();

    private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
