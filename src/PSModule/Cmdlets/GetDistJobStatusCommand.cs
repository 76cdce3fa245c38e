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
        var written = new HashSet<(string, string)>();
        foreach (var job in Job ?? [null!])
        {
            foreach (var host in HostName ?? [null!])
            {
                var query = new JobStatusQuery(job, host, Status);
                foreach (var status in RunOrNotFound(token => Services.Jobs.GetStatusAsync(query, token), job))
                {
                    if (written.Add((status.JobName.ToUpperInvariant(), status.HostName.ToUpperInvariant())))
                    {
                        WriteObject(status);
                    }
                }
            }
        }
    }
}
