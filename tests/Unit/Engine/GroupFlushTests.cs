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
}
