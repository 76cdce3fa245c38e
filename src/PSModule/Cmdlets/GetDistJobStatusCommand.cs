using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistJobStatus: one object per (job, host) with its state, exit code, message and attempt.</summary>
[Cmdlet(VerbsCommon.Get, "DistJobStatus")]
[OutputType(typeof(DistJobStatus))]
public sealed class GetDistJobStatusCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string[]? Job { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ComputerName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? HostName { get; set; }

    [Parameter]
    public TargetStatus[]? Status { get; set; }

    protected override void ProcessRecord()
    {
        // A job named exactly that does not exist is a non-terminating JobNotFound (the engine says so), as for Get-DistJob.
        // Rows are written as they are read (a job of 100,000 targets is never held whole); only when several names could
        // select the same target does the cmdlet remember what it wrote.
        var overlapping = (Job?.Length ?? 1) * (HostName?.Length ?? 1) > 1;
        var written = overlapping ? new HashSet<(string, string)>() : null;
        foreach (var job in Job ?? [null!])
        {
            foreach (var host in HostName ?? [null!])
            {
                var query = new JobStatusQuery(job, host, Status);
                foreach (var status in StreamOrNotFound(token => Services.Jobs.StreamStatusAsync(query, token), job))
                {
                    if (written is null || written.Add((status.JobName.ToUpperInvariant(), status.HostName.ToUpperInvariant())))
                    {
                        WriteObject(status);
                    }
                }
            }
        }
    }
}
