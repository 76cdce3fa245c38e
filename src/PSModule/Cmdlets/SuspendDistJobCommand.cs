using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Suspend-DistJob: suspends a job's transfers (whole job or chosen hosts) at a segment boundary; installs under way finish.</summary>
[Cmdlet(VerbsLifecycle.Suspend, "DistJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistJobStatus))]
public sealed class SuspendDistJobCommand : JobControlCommand
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName", "Job")]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The hosts to act on; every destination of the job when omitted.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    [ValidateNotNullOrEmpty]
    [Alias("ComputerName")]
    public string[]? HostName { get; set; }

    /// <summary>Writes the changed targets (one status object for each host whose target changed); without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override string RequestedJob => Name;

    protected override string[]? RequestedHosts => HostName;

    protected override bool PassThruRequested => PassThru;

    protected override JobControlAction Action => JobControlAction.Suspend;

    protected override string ActionName => "Suspend";
}
