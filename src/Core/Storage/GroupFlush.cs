using System.Collections.Concurrent;

namespace JP1Dist.Core.Storage;

/// <summary>
/// The queue of a group commit, with no thread of its own: the first caller that finds nobody flushing becomes the
/// flusher and hands batches of up to <paramref name="maxBatch"/> queued items to <paramref name="flush"/> until the
/// queue is empty, including what arrives while it works. <paramref name="flush"/> settles each item's outcome itself
/// (callers wait on their item, not on this call). The manager's report writes (<see cref="GroupCommit"/>) and a
/// relay's outbox (<c>Relay/RelayStore</c>) both queue through it.
/// </summary>
public sealed class GroupFlush<T>(int maxBatch, Func<IReadOnlyList<T>, Task> flush)
{
    private readonly ConcurrentQueue<T> _queue = new();
    private int _flushing;

    /// <summary>Queues <paramref name="item"/>; when nobody is flushing, flushes until the queue is empty.</summary>
    public async Task AddAsync(T item)
    {
        _queue.Enqueue(item);
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
        }
    }
}
