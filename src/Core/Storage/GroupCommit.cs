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

    /// <summary>
    /// How long the writer, under load, waits for more before it writes a batch of fewer than <see cref="GatherBelow"/>
    /// (<see cref="GroupFlush{T}"/>). At 10,000 agents the report batches went from 13-16 reports on average to 21-29, and
    /// the manager's CPU was 3-16 % lower in a first job and 10-17 % in a second (docs/benchmarks.md); a write that comes
    /// alone is not kept.
    /// </summary>
    public static readonly TimeSpan GatherTime = TimeSpan.FromMilliseconds(1);

    /// <summary>Below this many queued writes, a writer under load waits <see cref="GatherTime"/> for more.</summary>
    public const int GatherBelow = 16;

    private readonly DistDatabase _database;
    private readonly GroupFlush<Pending> _queue;

    public GroupCommit(DistDatabase database)
    {
        _database = database;
        _queue = new GroupFlush<Pending>(MaxBatch, FlushAsync, GatherTime, GatherBelow);
    }

    private sealed record Pending(Func<DistDbContext, Task<object?>>? Work, bool Whole, TaskCompletionSource<object?> Done, BatchWrite? Together = null, object? Item = null);

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

    /// <summary>
    /// Writes <paramref name="item"/> with the other items queued for the same <paramref name="writer"/> in the same batch,
    /// in one call of <see cref="BatchWrite{TItem, TResult}.WriteAsync"/>: the many reports of a job are a few statements a
    /// batch, not several each. When that call fails as a whole, each item is written again alone, so only the one at fault fails.
    /// </summary>
    public async Task<TResult> RunTogetherAsync<TItem, TResult>(BatchWrite<TItem, TResult> writer, TItem item)
    {
        var pending = new Pending(null, false, new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously), writer, item);
        await _queue.AddAsync(pending);
        return (TResult)(await pending.Done.Task)!;
    }

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
            var written = new HashSet<BatchWrite>(ReferenceEqualityComparer.Instance);
            for (var i = 0; i < batch.Count; i++)
            {
                if (batch[i].Together is { } writer)
                {
                    // Where the writer's first item is: the requests of one batch came at the same time, any order is theirs.
                    if (written.Add(writer))
                    {
                        await WriteTogetherAsync(db, transaction, writer, batch, outcomes);
                    }
                    continue;
                }
                var savepoint = _database.IsPostgreSql || batch[i].Whole;
                if (savepoint)
                {
                    await transaction.CreateSavepointAsync("item");
                }
                // Inside the write's own savepoint a save needs none of its own (two statements fewer per save).
                db.Database.AutoSavepointsEnabled = !savepoint;
                try
                {
                    outcomes[i] = (await batch[i].Work!(db), null);
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

    /// <summary>
    /// The items of <paramref name="writer"/> in this batch, in one call inside a savepoint; when the call fails (a statement
    /// the database refused, a statement that timed out), it is undone and each item written alone in a savepoint of its own.
    /// </summary>
    private static async Task WriteTogetherAsync(DistDbContext db, Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction transaction, BatchWrite writer,
        IReadOnlyList<Pending> batch, (object? Result, Exception? Error)[] outcomes)
    {
        var positions = Enumerable.Range(0, batch.Count).Where(i => ReferenceEquals(batch[i].Together, writer)).ToList();
        db.Database.AutoSavepointsEnabled = false;
        await transaction.CreateSavepointAsync("together");
        try
        {
            var results = await writer.WriteBoxedAsync(db, positions.Select(i => batch[i].Item).ToList());
            await transaction.ReleaseSavepointAsync("together");
            for (var k = 0; k < positions.Count; k++)
            {
                outcomes[positions[k]] = results[k];
            }
            return;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await transaction.RollbackToSavepointAsync("together");
            await transaction.ReleaseSavepointAsync("together");
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
        foreach (var i in positions)
        {
            await transaction.CreateSavepointAsync("item");
            try
            {
                outcomes[i] = (await writer.WriteBoxedAsync(db, [batch[i].Item]))[0];
                await transaction.ReleaseSavepointAsync("item");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await transaction.RollbackToSavepointAsync("item");
                await transaction.ReleaseSavepointAsync("item");
                outcomes[i] = (null, e);
            }
            db.ChangeTracker.Clear();
        }
    }
}

/// <summary>A write that <see cref="GroupCommit.RunTogetherAsync"/> hands all the items of a batch at once.</summary>
public abstract class BatchWrite
{
    internal abstract Task<IReadOnlyList<(object? Result, Exception? Error)>> WriteBoxedAsync(DistDbContext db, IReadOnlyList<object?> items);
}

/// <summary>
/// A write of many items in one go, in the shared transaction: one outcome per item, in their order, either its result or
/// the exception that refused it. A refused item must have written nothing; an exception thrown instead fails the call, and
/// the items are then written one at a time.
/// </summary>
public abstract class BatchWrite<TItem, TResult> : BatchWrite
{
    /// <summary>Writes <paramref name="items"/>; returns one outcome each, in order.</summary>
    public abstract Task<IReadOnlyList<(TResult? Result, Exception? Error)>> WriteAsync(DistDbContext db, IReadOnlyList<TItem> items);

    internal sealed override async Task<IReadOnlyList<(object? Result, Exception? Error)>> WriteBoxedAsync(DistDbContext db, IReadOnlyList<object?> items)
    {
        var results = await WriteAsync(db, items.Select(i => (TItem)i!).ToList());
        if (results.Count != items.Count)
        {
            throw new InvalidOperationException($"{GetType().Name} answered {results.Count} outcomes for {items.Count} items.");
        }
        return results.Select(r => ((object?)r.Result, r.Error)).ToList();
    }
}
