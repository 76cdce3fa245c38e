namespace JP1Dist.Contracts;

/// <summary>Jobs and their status: New-, Get-, Start-, Restart-, Suspend-, Resume-, Stop-, Remove-DistJob and Get-DistJobStatus.</summary>
public interface IJobService
{
    /// <summary>Saves a job; its package and every destination must exist.</summary>
    Task<DistJob> CreateAsync(NewJobRequest request, CancellationToken cancellationToken = default);

    /// <summary>The jobs whose names match the pattern (every job when null).</summary>
    Task<IReadOnlyList<DistJob>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default);

    /// <summary>Executes a job: every destination gets a target that waits for the execution time.</summary>
    Task<JobExecutionResult> StartAsync(string jobName, CancellationToken cancellationToken = default);

    /// <summary>Re-executes the job's failed targets (all, or those of the hosts named) as a new attempt.</summary>
    Task<JobExecutionResult> RestartAsync(string jobName, IReadOnlyCollection<string>? hostNames, CancellationToken cancellationToken = default);

    /// <summary>Suspends, resumes or cancels the job's targets (all, or those of the hosts named); returns those it changed.</summary>
    Task<IReadOnlyList<DistJobStatus>> ControlAsync(string jobName, IReadOnlyCollection<string>? hostNames, JobControlAction action, CancellationToken cancellationToken = default);

    /// <summary>The status of every (job, host) target the query selects.</summary>
    async Task<IReadOnlyList<DistJobStatus>> GetStatusAsync(JobStatusQuery query, CancellationToken cancellationToken = default) =>
        await StreamStatusAsync(query, cancellationToken).ToListAsync(cancellationToken);

    /// <summary>
    /// The same rows as <see cref="GetStatusAsync"/>, in the same order, one at a time as they are read: a job with a
    /// hundred thousand targets is never held in memory whole. A job named exactly that does not exist fails at the first
    /// row (JobNotFound), before any row.
    /// </summary>
    IAsyncEnumerable<DistJobStatus> StreamStatusAsync(JobStatusQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// The status of the jobs' targets once it differs from <paramref name="version"/> (a version an earlier answer gave;
    /// null answers at once), or when <paramref name="wait"/> has passed (held to <see cref="DistJobStatusChange.MaxWait"/>).
    /// </summary>
    Task<DistJobStatusChange> WaitForStatusChangeAsync(IReadOnlyList<string> jobNames, string? version, TimeSpan wait, CancellationToken cancellationToken = default);

    /// <summary>Removes a job; refused while it has unfinished targets, unless forced.</summary>
    Task RemoveAsync(string jobName, bool force, CancellationToken cancellationToken = default);
}
