using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// What every JP1Dist cmdlet shares: the session's services, cancellation on Ctrl+C, and the translation of
/// service errors into terminating errors with stable ids and categories.
/// </summary>
public abstract class DistCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the user presses Ctrl+C.</summary>
    protected CancellationToken StopToken => _stopping.Token;

    /// <summary>The runspace this cmdlet runs in, taken on the pipeline thread: work that runs on the thread pool (packaging with progress) must act on the same manager.</summary>
    private protected System.Management.Automation.Runspaces.Runspace? SessionRunspace { get; } = System.Management.Automation.Runspaces.Runspace.DefaultRunspace;

    /// <summary>The services this session works with (<see cref="DistSession"/> decides which implementation).</summary>
    protected IDistServices Services => DistSession.For(SessionRunspace);

    protected override void StopProcessing() => _stopping.Cancel();

    /// <summary>Runs engine work on the pipeline thread, turning engine errors into terminating errors.</summary>
    protected T Run<T>(Func<CancellationToken, Task<T>> work, object? target = null)
    {
        try
        {
            return work(StopToken).GetAwaiter().GetResult();
        }
        catch (DistException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, target));
            throw; // not reached: ThrowTerminatingError always throws
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>
    /// Runs engine work that reports progress. The work runs on the thread pool and hands each report back through
    /// a queue; this thread, the pipeline's, is the only one that writes (WriteProgress from elsewhere is an error).
    /// </summary>
    protected T RunWithProgress<T, TProgress>(Func<IProgress<TProgress>, CancellationToken, Task<T>> work, Action<TProgress> show, object? target = null)
    {
        using var reports = new System.Collections.Concurrent.BlockingCollection<TProgress>();
        var progress = new QueueProgress<TProgress>(reports);
        var task = Task.Run(async () =>
        {
            try
            {
                return await work(progress, StopToken).ConfigureAwait(false);
            }
            finally
            {
                reports.CompleteAdding();
            }
        });
        foreach (var report in reports.GetConsumingEnumerable())
        {
            show(report);
        }
        return Run(_ => task, target);
    }

    /// <summary>An IProgress that queues reports instead of calling back on whatever thread reported them.</summary>
    private sealed class QueueProgress<TProgress>(System.Collections.Concurrent.BlockingCollection<TProgress> queue) : IProgress<TProgress>
    {
        public void Report(TProgress value)
        {
            if (!queue.IsAddingCompleted)
            {
                queue.Add(value);
            }
        }
    }

    /// <summary>
    /// Reads an -InstallCondition hashtable into the engine's conditions (null when none was given); an unknown key or
    /// a malformed value is a terminating error naming it.
    /// </summary>
    protected InstallConditions? ReadInstallConditions(System.Collections.Hashtable? input) =>
        input is null ? null : Run(_ => Task.FromResult(InstallConditionReader.FromDictionary(HashtableInput.Unwrap(input))), input);

    /// <summary>Runs engine work that returns nothing.</summary>
    protected void Run(Func<CancellationToken, Task> work, object? target = null) =>
        Run(async token => { await work(token).ConfigureAwait(false); return true; }, target);

    /// <summary>Runs engine work for one item of many: an engine error becomes a non-terminating error and the pipeline goes on.</summary>
    protected bool TryRun(Func<CancellationToken, Task> work, object? target = null)
    {
        try
        {
            work(StopToken).GetAwaiter().GetResult();
            return true;
        }
        catch (DistException e)
        {
            WriteError(ToErrorRecord(e, target));
            return false;
        }
    }

    /// <summary>
    /// For a Get- cmdlet: a name without wildcards that matched nothing is a non-terminating "not found" error,
    /// as Get-Item does (so -ErrorAction SilentlyContinue quiets it); a pattern that matched nothing is just an empty result.
    /// The error's TargetObject is the name that was not found.
    /// </summary>
    protected void WriteNotFoundUnlessWildcard(string? name, int found, string errorId, string message)
    {
        if (found == 0 && name is not null && !WildcardPattern.ContainsWildcardCharacters(name))
        {
            WriteError(new ErrorRecord(new ItemNotFoundException(message), errorId, ErrorCategory.ObjectNotFound, name));
        }
    }

    /// <summary>
    /// The not-found rule for a Get- cmdlet whose name parameter takes several names and patterns: each is looked up,
    /// each exact name that matches nothing is a non-terminating ObjectNotFound error naming it, and what several patterns
    /// match is written once. No names (the parameter not given) lists everything.
    /// </summary>
    protected void WriteMatches<T>(string[]? patterns, Func<string?, CancellationToken, Task<IReadOnlyList<T>>> list, Func<T, object> identity,
        string errorId, Func<string, string> message)
    {
        var written = new HashSet<object>();
        foreach (var pattern in patterns ?? [null!])
        {
            var found = Run(token => list(pattern, token), pattern);
            WriteNotFoundUnlessWildcard(pattern, found.Count, errorId, message(pattern ?? ""));
            foreach (var item in found)
            {
                if (written.Add(identity(item)))
                {
                    WriteObject(item);
                }
            }
        }
    }

    /// <summary>
    /// Runs engine work for one name of many in a Get- cmdlet: an engine "not found" becomes a non-terminating
    /// ObjectNotFound error (the name not found as its target) and an empty result; any other engine error still ends the command.
    /// </summary>
    protected IReadOnlyList<T> RunOrNotFound<T>(Func<CancellationToken, Task<IReadOnlyList<T>>> work, object? target) =>
        RunOrNotFound(work, target, out _);

    /// <summary>As <see cref="RunOrNotFound{T}(Func{CancellationToken, Task{IReadOnlyList{T}}}, object?)"/>, saying whether the engine reported "not found".</summary>
    protected IReadOnlyList<T> RunOrNotFound<T>(Func<CancellationToken, Task<IReadOnlyList<T>>> work, object? target, out bool notFound)
    {
        notFound = false;
        try
        {
            return work(StopToken).GetAwaiter().GetResult();
        }
        catch (DistException e) when (e.Kind == DistErrorKind.NotFound)
        {
            WriteError(ToErrorRecord(e, target));
            notFound = true;
            return [];
        }
        catch (DistException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, target));
            throw; // not reached
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>
    /// Like <see cref="RunOrNotFound{T}(Func{CancellationToken, Task{IReadOnlyList{T}}}, object?)"/> for a stream: each item is read on the pipeline thread and handed on at once, so
    /// the first row is written while the rest are still being read and nothing holds them all.
    /// </summary>
    protected IEnumerable<T> StreamOrNotFound<T>(Func<CancellationToken, IAsyncEnumerable<T>> work, object? target, Action? notFound = null)
    {
        var items = work(StopToken).GetAsyncEnumerator(StopToken);
        try
        {
            while (MoveNextOrNotFound(items, target, notFound))
            {
                yield return items.Current;
            }
        }
        finally
        {
            items.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private bool MoveNextOrNotFound<T>(IAsyncEnumerator<T> items, object? target, Action? notFound)
    {
        try
        {
            return items.MoveNextAsync().AsTask().GetAwaiter().GetResult();
        }
        catch (DistException e) when (e.Kind == DistErrorKind.NotFound)
        {
            WriteError(ToErrorRecord(e, target));
            notFound?.Invoke();
            return false;
        }
        catch (DistException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, target));
            throw; // not reached
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>
    /// An error record with the engine's stable error id and the matching category. A "not found" error targets what was
    /// not found (the package, the host) as the engine names it, not the object the cmdlet worked on (the job).
    /// </summary>
    protected static ErrorRecord ToErrorRecord(DistException e, object? target) => new(e, e.ErrorId, e.Kind switch
    {
        DistErrorKind.NotFound => ErrorCategory.ObjectNotFound,
        DistErrorKind.AlreadyExists => ErrorCategory.ResourceExists,
        DistErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        DistErrorKind.Unauthorized or DistErrorKind.Forbidden => ErrorCategory.PermissionDenied,
        DistErrorKind.NotAvailable => ErrorCategory.ConnectionError,
        _ => ErrorCategory.InvalidArgument,
    }, e.Kind == DistErrorKind.NotFound && e.Target is not null ? e.Target : target ?? e.Target);

    /// <summary>A terminating error for bad input found in the cmdlet itself.</summary>
    protected void ThrowInvalidArgument(string errorId, string message, object? target) =>
        ThrowTerminatingError(new ErrorRecord(new ArgumentException(message), errorId, ErrorCategory.InvalidArgument, target));

    public void Dispose()
    {
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }
}
