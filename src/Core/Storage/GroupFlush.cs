using System.Collections.Concurrent;

namespace JP1Dist.Core.Storage;

/// <summary>
/// The queue of a group commit, with no thread of its own: the first caller that finds nobody flushing becomes the
/// flusher and hands a batch of up to <paramref name="maxBatch"/> queued items to <paramref name="flush"/>; what is still
/// queued after it (what arrived while it worked) a thread-pool thread flushes on, batch after batch, until the queue is
/// empty. <paramref name="flush"/> settles each item's outcome itself (callers wait on their item, not on this call). The
/// manager's writes (<see cref="GroupCommit"/>) and a relay's outbox (<c>Relay/RelayStore</c>) both queue through it.
/// </summary>
public sealed class GroupFlush<T>(int maxBatch, Func<IReadOnlyList<T>, Task> flush)
{
    private readonly ConcurrentQueue<T> _queue = new();
    private int _flushing;

    /// <summary>Queues <paramref name="item"/>; when nobody is flushing, flushes one batch and leaves the rest to the thread pool.</summary>
    /// <remarks>
    /// A caller that went on flushing until the queue was empty could be kept for as long as others queue: the first of
    /// 10,000 agents registering at once would wait for all of them, past its own deadline.
    /// </remarks>
    public Task AddAsync(T item)
    {
        _queue.Enqueue(item);
        return DrainAsync(untilEmpty: false);
    }

    private async Task DrainAsync(bool untilEmpty)
    {
        // Release the flag before looking at the queue again, so an item queued meanwhile is never stranded.
        while (!_queue.IsEmpty && Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
        {
            try
            {
                var batch = new List<T>(maxBatch);
                while (batch.Count < maxBatch && _queue.TryDequeue(out var next))
                {
                    batch.Add(next);
                }
                await flush(batch);
            }
            finally
            {
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
}
