using JP1Dist.Core.Storage;
using Xunit;

namespace JP1Dist.Tests.Engine;

public sealed class GroupFlushTests
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_caller_that_flushes_is_let_go_after_its_batch_while_what_queued_meanwhile_is_flushed_by_the_pool()
    {
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseSecond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondFlushed = new TaskCompletionSource<IReadOnlyList<int>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = 0;
        var queue = new GroupFlush<int>(256, async batch =>
        {
            if (Interlocked.Increment(ref batches) == 1)
            {
                firstStarted.SetResult();
                await releaseFirst.Task;
            }
            else
            {
                await releaseSecond.Task;
                secondFlushed.SetResult(batch.ToList());
            }
        });

        var first = queue.AddAsync(1);
        await firstStarted.Task.WaitAsync(HangLimit);
        // Queued while the first batch is written: these callers find someone flushing and return at once.
        await queue.AddAsync(2).WaitAsync(HangLimit);
        await queue.AddAsync(3).WaitAsync(HangLimit);
        releaseFirst.SetResult();

        // The first caller's batch is written: it returns although the second batch is not (it waits for releaseSecond).
        await first.WaitAsync(HangLimit);
        Assert.False(secondFlushed.Task.IsCompleted);
        releaseSecond.SetResult();
        Assert.Equal([2, 3], await secondFlushed.Task.WaitAsync(HangLimit));
    }

    [Fact]
    public async Task A_flusher_under_load_gathers_what_comes_before_its_batch_and_an_idle_queue_flushes_at_once()
    {
        // Gathering waits an hour or until three are queued: a flush that gathered when it should not would hang this test.
        var batches = new List<IReadOnlyList<int>>();
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var written = new TaskCompletionSource[] { new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously) };
        var queue = new GroupFlush<int>(256, async batch =>
        {
            int index;
            lock (batches)
            {
                batches.Add(batch.ToList());
                index = batches.Count - 1;
            }
            if (index == 0)
            {
                firstStarted.SetResult();
                await releaseFirst.Task;
            }
            else
            {
                written[index - 1].SetResult();
            }
        }, gather: TimeSpan.FromHours(1), gatherBelow: 3);

        // Idle: the first item is written alone, at once.
        var first = queue.AddAsync(1);
        await firstStarted.Task.WaitAsync(HangLimit);
        Assert.Equal([1], batches[0]);

        // Queued while it was written: under load, the next batch waits for what is on its way, here until three are queued.
        await queue.AddAsync(2).WaitAsync(HangLimit);
        releaseFirst.SetResult();
        await first.WaitAsync(HangLimit);
        // (The caller that queues 3 or 4 may be the one that flushes, and then waits with the batch: not awaited before 4.)
        var third = queue.AddAsync(3);
        Assert.False(written[0].Task.IsCompleted);
        var fourth = queue.AddAsync(4);
        await written[0].Task.WaitAsync(HangLimit);
        Assert.Equal([2, 3, 4], batches[1]);
        await Task.WhenAll(third, fourth).WaitAsync(HangLimit);

        // Written with nothing queued meanwhile: the queue is idle again, and the next item is written at once.
        await Eventually.ForAsync(() => Task.FromResult(!queue.Flushing), "the batch written", limit: HangLimit);
        await queue.AddAsync(5).WaitAsync(HangLimit);
        await written[1].Task.WaitAsync(HangLimit);
        Assert.Equal([5], batches[2]);
    }
}
