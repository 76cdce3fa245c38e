using System.Security.Cryptography;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Jobs;

public sealed partial class JobService
{
    /// <summary>The most job names one wait takes (Wait-DistJob names a few; the list travels in a query string).</summary>
    public const int MaxWaitJobs = 100;

    /// <summary>
    /// After a signal, the wait lets this much pass before it looks: the reports of many hosts arrive as a burst, and one
    /// look answers them all (Wait-DistJob showed progress every 250 ms before it waited on signals, too).
    /// </summary>
    private static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Looks at the jobs' status, and while its version is <paramref name="version"/> waits for a change of targets
    /// (<see cref="DistEngine.TargetChanges"/>, or a look again every <see cref="Distribution.TargetChanges.RecheckInterval"/>)
    /// until <paramref name="wait"/> has passed; then answers the status as it is.
    /// </summary>
    public async Task<DistJobStatusChange> WaitForStatusChangeAsync(IReadOnlyList<string> jobNames, string? version, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        if (jobNames is not { Count: > 0 and <= MaxWaitJobs } || jobNames.Any(string.IsNullOrWhiteSpace))
        {
            throw new DistException("WaitJobNamesInvalid", DistErrorKind.InvalidArgument,
                $"Name from 1 to {MaxWaitJobs} jobs to wait for, none of them empty ({jobNames?.Count ?? 0} given).", "job");
        }
        if (wait < TimeSpan.Zero)
        {
            throw new DistException("WaitInvalid", DistErrorKind.InvalidArgument, $"The time to wait cannot be negative ({wait}).", "wait");
        }
        var changes = engine.TargetChanges;
        var deadline = engine.Time.GetUtcNow() + (wait > DistJobStatusChange.MaxWait ? DistJobStatusChange.MaxWait : wait);
        while (true)
        {
            var signal = changes.Next;
            var jobs = new List<IReadOnlyList<DistJobStatus>>(jobNames.Count);
            foreach (var name in jobNames)
            {
                jobs.Add(await GetStatusAsync(new JobStatusQuery(name), cancellationToken));
            }
            var current = VersionOf(jobs);
            var remaining = deadline - engine.Time.GetUtcNow();
            if (!string.Equals(current, version, StringComparison.Ordinal) || remaining <= TimeSpan.Zero)
            {
                return new DistJobStatusChange(jobs, current);
            }
            var step = remaining < changes.RecheckInterval ? remaining : changes.RecheckInterval;
            await Task.WhenAny(signal, Task.Delay(step, engine.Time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            if (signal.IsCompleted && deadline - engine.Time.GetUtcNow() > Coalesce)
            {
                await Task.Delay(Coalesce, engine.Time, cancellationToken);
            }
        }
    }

    /// <summary>The version of a status: a hash of all it shows, so that any change a person could see changes it.</summary>
    private static string VersionOf(List<IReadOnlyList<DistJobStatus>> jobs) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(jobs, ProtocolJson.Options)))[..32];
}
