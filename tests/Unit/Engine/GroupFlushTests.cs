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
        // Gathering waits an hour or until three are queued: an idle queue that waited would hang this test.
        var batches = new List<IReadOnlyList<int>>();
        var release = new[] { new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var started = new[] { new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var third = new TaskCompletionSource<IReadOnlyList<int>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queue = new GroupFlush<int>(256, async batch =>
        {
            int index;
            lock (batches)
            {
                batches.Add(batch.ToList());
                index = batches.Count - 1;
            }
            if (index < 2)
            {
                started[index].SetResult();
                await release[index].Task;
            }
            else
            {
                third.TrySetResult(batch.ToList());
            }
        }, gather: TimeSpan.FromHours(1), gatherBelow: 3);

        // Idle: the first item is written alone, at once.
        var first = queue.AddAsync(1);
        await started[0].Task.WaitAsync(HangLimit);
        Assert.Equal([1], batches[0]);

        // What queued while it was written follows, at once too: the batch before was of one, the writer is not under load.
        await queue.AddAsync(2).WaitAsync(HangLimit);
        await queue.AddAsync(3).WaitAsync(HangLimit);
        release[0].SetResult();
        await first.WaitAsync(HangLimit);
        await started[1].Task.WaitAsync(HangLimit);
        Assert.Equal([2, 3], batches[1]);

        // Under load now (a batch of two): the next batch waits for what is on its way, here until three are queued.
        await queue.AddAsync(4).WaitAsync(HangLimit);
        release[1].SetResult();
        // (The caller that queues 5 may be the one that flushes, and then waits with the batch: not awaited before 6.)
        var five = queue.AddAsync(5);
        Assert.False(third.Task.IsCompleted);
        var six = queue.AddAsync(6);
        Assert.Equal([4, 5, 6], await third.Task.WaitAsync(HangLimit));
        await Task.WhenAll(five, six).WaitAsync(HangLimit);
    }
}
