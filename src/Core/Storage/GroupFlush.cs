using System.Collections.Concurrent;

namespace JP1Dist.Core.Storage;

/// <summary>
/// The queue of a group commit, with no thread of its own: the first caller that finds nobody flushing becomes the
/// flusher and hands a batch of up to <paramref name="maxBatch"/> queued items to <paramref name="flush"/>; what is still
/// queued after it (what arrived while it worked) a thread-pool thread flushes on, batch after batch, until the queue is
/// empty. <paramref name="flush"/> settles each item's outcome itself (callers wait on their item, not on this call). The
/// manager's writes (<see cref="GroupCommit"/>) and a relay's outbox (<c>Relay/RelayStore</c>) both queue through it.
/// <para>
/// With a <paramref name="gather"/> time, a flusher under load (items were queued while the batch before was written) that
/// finds fewer than <paramref name="gatherBelow"/> queued waits that long once before it takes its
/// batch (or until that many are queued), so that what is on its way joins it: each batch costs a commit and its fixed
/// statements, and at 10,000 agents a fifth of the report batches were of one report. An idle queue's first item is
/// flushed at once.
/// </para>
/// </summary>
public sealed class GroupFlush<T>(int maxBatch, Func<IReadOnlyList<T>, Task> flush, TimeSpan gather = default, int gatherBelow = 0)
{
    private readonly ConcurrentQueue<T> _queue = new();
    private int _flushing;
    private bool _underLoad;
    private TaskCompletionSource? _gathering;

    /// <summary>Queues <paramref name="item"/>; when nobody is flushing, flushes one batch and leaves the rest to the thread pool.</summary>
    /// <remarks>
    /// A caller that went on flushing until the queue was empty could be kept for as long as others queue: the first of
    /// 10,000 agents registering at once would wait for all of them, past its own deadline.
    /// </remarks>
    public Task AddAsync(T item)
    {
        _queue.Enqueue(item);
        if (Volatile.Read(ref _gathering) is { } gathering && _queue.Count >= gatherBelow)
        {
            gathering.TrySetResult();
        }
        return DrainAsync(untilEmpty: false);
    }

    private async Task DrainAsync(bool untilEmpty)
    {
        // Release the flag before looking at the queue again, so an item queued meanwhile is never stranded.
        while (!_queue.IsEmpty && Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
        {
            try
            {
                if (gather > TimeSpan.Zero && _underLoad && _queue.Count < gatherBelow)
                {
                    await GatherAsync();
                }
                var batch = new List<T>(maxBatch);
                while (batch.Count < maxBatch && _queue.TryDequeue(out var next))
                {
                    batch.Add(next);
                }
                await flush(batch);
            }
            finally
            {
                // Items queued while this batch was written: the next one is under load. A queue found empty is idle.
                _underLoad = !_queue.IsEmpty;
                Volatile.Write(ref _flushing, 0);
            }
            if (!untilEmpty)
            {
                if (!_queue.IsEmpty)
                {
                    _ = Task.Run(() => DrainAsync(untilEmpty: true));
                }
                return;
            }
        }
    }

    /// <summary>Whether a batch is being written now (for tests: the queue is idle when not, and nothing is queued).</summary>
    internal bool Flushing => Volatile.Read(ref _flushing) == 1;

    /// <summary>Waits <c>gather</c>, or until <c>gatherBelow</c> items are queued.</summary>
    private async Task GatherAsync()
    {
        var gathering = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A full fence: the count below is read after this is seen, so an item queued meanwhile signals or is counted.
        Interlocked.Exchange(ref _gathering, gathering);
        try
        {
            // Set before this second look: an item queued from here on sees it, one queued before is counted here.
            if (_queue.Count < gatherBelow)
            {
                await Task.WhenAny(gathering.Task, Task.Delay(gather));
            }
        }
        finally
        {
            Volatile.Write(ref _gathering, null);
        }
    }
}
