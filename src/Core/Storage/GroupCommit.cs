using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Storage;

/// <summary>
/// Runs small concurrent writes (agent reports, last-seen times) together in one transaction, so that a
/// thousand agents reporting at once cost a few commits instead of a thousand. No thread of its own: the
/// first caller that finds nobody flushing writes a batch of what has queued up, and a thread-pool thread
/// goes on with what arrives meanwhile (<see cref="GroupFlush{T}"/>). Each write keeps its own outcome, so
/// one write that fails its check does not fail the others; only a failed commit fails the whole batch. One
/// per engine and process (<see cref="DistEngine.Writes"/>): reports, last-seen times and registrations
/// queue behind one writer.
/// </summary>
public sealed class GroupCommit
{
    /// <summary>The most writes one transaction takes, so that no write waits behind an unbounded batch.</summary>
    public const int MaxBatch = 256;

    private readonly DistDatabase _database;
    private readonly GroupFlush<Pending> _queue;

    public GroupCommit(DistDatabase database)
    {
        _database = database;
        _queue = new GroupFlush<Pending>(MaxBatch, FlushAsync);
    }

    private sealed record Pending(Func<DistDbContext, Task<object?>> Work, bool Whole, TaskCompletionSource<object?> Done);

    /// <summary>
    /// Runs <paramref name="work"/> inside a shared write transaction and returns its result once committed. A refused
    /// write (it throws) must not have written before it threw; on PostgreSQL it is undone anyway, on SQLite not.
    /// </summary>
    public Task<T> RunAsync<T>(Func<DistDbContext, Task<T>> work) => RunAsync(work, whole: false);

    /// <summary>
    /// The same for a write of several statements that a refusal part way must undo whole (a registration counts its
    /// token's use before it checks the name): it runs inside a savepoint of its own on SQLite too, so a refused one
    /// changes nothing, and the writes after it in the batch see what it would have changed undone.
    /// </summary>
    public Task<T> RunWholeAsync<T>(Func<DistDbContext, Task<T>> work) => RunAsync(work, whole: true);

    private async Task<T> RunAsync<T>(Func<DistDbContext, Task<T>> work, bool whole)
    {
        var pending = new Pending(async db => await work(db), whole, new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.AddAsync(pending);
        return (T)(await pending.Done.Task)!;
    }

    private async Task FlushAsync(IReadOnlyList<Pending> batch)
    {
        var outcomes = new (object? Result, Exception? Error)[batch.Count];
        try
        {
            await using var db = _database.CreateContext();
            await using var transaction = await db.Database.BeginTransactionAsync();
            // On PostgreSQL an error in a statement aborts the whole transaction; a savepoint per write keeps the
            // others. SQLite goes on after a failed statement, so it needs one only for a write to be undone whole.
            for (var i = 0; i < batch.Count; i++)
            {
                var savepoint = _database.IsPostgreSql || batch[i].Whole;
                if (savepoint)
                {
                    await transaction.CreateSavepointAsync("item");
                }
                // Inside the write's own savepoint a save needs none of its own (two statements fewer per save).
                db.Database.AutoSavepointsEnabled = !savepoint;
                try
                {
                    outcomes[i] = (await batch[i].Work(db), null);
                    if (savepoint)
                    {
                        await transaction.ReleaseSavepointAsync("item");
                    }
                }
                catch (Exception e) when (!StorageErrors.IsDatabaseError(e) || e is DbUpdateException)
                {
                    // A refused write (its own check failed, or a key someone else holds) changed nothing; the others go on.
                    if (savepoint)
                    {
                        await transaction.RollbackToSavepointAsync("item");
                        await transaction.ReleaseSavepointAsync("item");
                    }
                    outcomes[i] = (null, e);
                }
                // Each write starts from the database, not from the entities an earlier one left tracked.
                db.ChangeTracker.Clear();
            }
            await transaction.CommitAsync();
        }
        catch (Exception e)
        {
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(e);
            }
            return;
        }
        for (var i = 0; i < batch.Count; i++)
        {
            if (outcomes[i].Error is { } error)
            {
                batch[i].Done.TrySetException(error);
            }
            else
            {
                batch[i].Done.TrySetResult(outcomes[i].Result);
            }
        }
    }
}
