using System.Diagnostics;
using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Wait-DistJob: waits, with a progress bar, until every target of the jobs has an outcome.</summary>
[Cmdlet(VerbsLifecycle.Wait, "DistJob")]
[OutputType(typeof(DistJobStatus))]
public sealed class WaitDistJobCommand : DistCmdlet
{
    private readonly List<string> _jobs = [];

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName", "Job")]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>Seconds to wait at most; a terminating error names what is still unfinished. Waits without limit when omitted.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? Timeout { get; set; }

    /// <summary>Writes the final status of every target when the wait ends.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord() => _jobs.AddRange(Name);

    /// <summary>Between two looks at least this long, so a job whose targets change all the time is shown four times a second, not more.</summary>
    private static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(250);

    protected override void EndProcessing()
    {
        var jobs = _jobs.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var clock = Stopwatch.StartNew();
        var progress = new ProgressRecord(1, $"Waiting for {string.Join(", ", jobs)}", "Starting");
        List<DistJobStatus> statuses;
        var warnedNoManager = false;
        string? version = null;
        while (true)
        {
            // One call per change of the jobs' targets (or per DistJobStatusChange.MaxWait, or the -Timeout left): the engine
            // in-process looks every 250 ms, a manager through its admin API answers when its targets change.
            var left = Timeout is { } seconds ? TimeSpan.FromSeconds(seconds) - clock.Elapsed : DistJobStatusChange.MaxWait;
            var wait = version is null || left <= TimeSpan.Zero ? TimeSpan.Zero : left < DistJobStatusChange.MaxWait ? left : DistJobStatusChange.MaxWait;
            var change = Run(token => Services.Jobs.WaitForStatusChangeAsync(jobs, version, wait, token), string.Join(",", jobs));
            version = change.Version;
            statuses = [];
            for (var i = 0; i < jobs.Count; i++)
            {
                if (change.Jobs[i].Count == 0)
                {
                    // Nothing would ever finish: say so instead of returning as if it had.
                    ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                        $"Job '{jobs[i]}' has not been executed, so there is nothing to wait for; Start-DistJob executes it."),
                        "JobNotExecuted", ErrorCategory.InvalidOperation, jobs[i]));
                }
                statuses.AddRange(change.Jobs[i]);
            }
            var done = statuses.Count(s => s.IsFinal);
            var pending = statuses.Where(s => !s.IsFinal).ToList();
            if (pending.Count == 0)
            {
                break;
            }
            if (!warnedNoManager && pending.Any(s => s.Message == DistJobStatus.NoManagerMessage))
            {
                WriteWarning(DistJobStatus.NoManagerMessage);
                warnedNoManager = true;
            }
            progress.PercentComplete = statuses.Count == 0 ? 0 : done * 100 / statuses.Count;
            progress.StatusDescription = $"{done} of {statuses.Count} finished; " +
                string.Join(", ", pending.GroupBy(s => s.Status).Select(g => $"{g.Count()} {g.Key}"));
            WriteProgress(progress);
            if (Timeout is { } limit && clock.Elapsed.TotalSeconds >= limit)
            {
                progress.RecordType = ProgressRecordType.Completed;
                WriteProgress(progress);
                var waiting = string.Join(", ", pending.Take(10).Select(s => $"{s.HostName} ({s.Status}{(s.Message is null ? "" : ": " + s.Message)})"));
                ThrowTerminatingError(new ErrorRecord(new TimeoutException(
                    $"Wait-DistJob timed out after {limit} s with {pending.Count} target(s) unfinished: {waiting}{(pending.Count > 10 ? ", ..." : "")}."),
                    "WaitTimeout", ErrorCategory.OperationTimeout, string.Join(",", jobs)));
            }
            if (StopToken.WaitHandle.WaitOne(MinInterval))
            {
                throw new PipelineStoppedException();
            }
        }
        progress.RecordType = ProgressRecordType.Completed;
        WriteProgress(progress);
        if (PassThru)
        {
            WriteObject(statuses, enumerateCollection: true);
        }
    }
}
