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
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string? Job { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string? HostName { get; set; }

    [Parameter]
    public TargetStatus[]? Status { get; set; }

    protected override void ProcessRecord()
    {
        var query = new JobStatusQuery(Job, HostName, Status);
        WriteObject(Run(token => Services.Jobs.GetStatusAsync(query, token), Job), enumerateCollection: true);
    }
}
