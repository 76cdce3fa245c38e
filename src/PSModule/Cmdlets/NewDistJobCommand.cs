using System.Collections;
using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>New-DistJob: saves a job (package, destinations, type, execution time); Start-DistJob executes it.</summary>
[Cmdlet(VerbsCommon.New, "DistJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(DistJob))]
public sealed class NewDistJobCommand : DistCmdlet
{
    private readonly List<string> _destinations = [];

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    [Alias("PackageName")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(PackageNameCompleter))]
    public string Package { get; set; } = "";

    /// <summary>The package version; the newest registered version when omitted.</summary>
    [Parameter]
    public string? PackageVersion { get; set; }

    [Parameter(Position = 2, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName")]
    [HostNameTransformation]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] Destination { get; set; } = [];

    /// <summary>Host groups whose hosts the job reaches as well as the hosts in -Destination (each host once).</summary>
    [Parameter]
    [HostNameTransformation]
    [ArgumentCompleter(typeof(HostGroupNameCompleter))]
    public string[] HostGroup { get; set; } = [];

    /// <summary>What the destination names are: hosts (the default), host groups, or one ID group.</summary>
    [Parameter]
    public DestinationType DestinationType { get; set; } = DestinationType.Host;

    /// <summary>How many times a failed host is re-executed automatically at its next connection.</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int RetryFailed { get; set; }

    [Parameter]
    public JobType Type { get; set; } = JobType.Install;

    /// <summary>When the data is transmitted; at once when omitted.</summary>
    [Parameter]
    public DateTime? DistributeAt { get; set; }

    [Parameter]
    public string? Description { get; set; }

    /// <summary>Install conditions overriding the package's, condition by condition.</summary>
    [Parameter]
    public Hashtable? InstallCondition { get; set; }

    /// <summary>When clients install; overrides the package's install time.</summary>
    [Parameter]
    public DateTime? InstallAt { get; set; }

    /// <summary>The pause between two segments of a transfer, in seconds.</summary>
    [Parameter]
    [ValidateRange(0.0, NewJobRequest.MaxSegmentIntervalSeconds)]
    public double SegmentInterval { get; set; }

    /// <summary>The bandwidth cap per transfer in KB/s (KiB); 0 means none.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int BandwidthLimitKBps { get; set; }

    /// <summary>Restart a host after its install ends with one of the package's reboot codes, once no install or transfer runs there.</summary>
    [Parameter]
    public SwitchParameter RebootAfter { get; set; }

    /// <summary>Shut a host down once its install of this job ended, once no install or transfer runs there.</summary>
    [Parameter]
    public SwitchParameter ShutdownAfter { get; set; }

    /// <summary>Wake the targets (Wake-on-LAN) before the distribution time.</summary>
    [Parameter]
    public SwitchParameter WakeOnLan { get; set; }

    /// <summary>How many minutes before the distribution time the targets are woken (with -WakeOnLan; 0: at the distribution time).</summary>
    [Parameter]
    [ValidateRange(0, NewJobRequest.MaxWakeLeadMinutes)]
    public int WakeLeadMinutes { get; set; }

    /// <summary>For a user-choice job: agents download and verify the package before offering it, so the user's install fetches nothing more.</summary>
    [Parameter]
    public SwitchParameter PreDownload { get; set; }

    protected override void ProcessRecord() => _destinations.AddRange(Destination);

    protected override void EndProcessing()
    {
        var destinations = _destinations.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var groups = HostGroup.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var kind = DestinationType switch
        {
            DestinationType.HostGroup => "host group(s) ",
            DestinationType.IdGroup => "ID group ",
            DestinationType.AllLowerClients => "every host below relay(s) ",
            _ => "",
        };
        var action = Type switch { JobType.TransferToRelay => "storing", JobType.UserChoice => "offering", _ => "installing" };
        var targets = kind + string.Join(", ", destinations) + (groups.Count == 0 ? "" : $"{(destinations.Count == 0 ? "" : " and ")}host group(s) {string.Join(", ", groups)}");
        if (!ShouldProcess($"job '{Name}' {action} '{Package}' on {targets}", "Create"))
        {
            return;
        }
        var conditions = ReadInstallConditions(InstallCondition);
        var request = new NewJobRequest(Name, Package, PackageVersion, destinations, Type, DistributeAt, Description, DestinationType, RetryFailed,
            conditions, InstallAt, SegmentInterval, BandwidthLimitKBps, groups, RebootAfter.IsPresent, ShutdownAfter.IsPresent, WakeOnLan.IsPresent, WakeLeadMinutes,
            PreDownload.IsPresent);
        WriteObject(Run(token => Services.Jobs.CreateAsync(request, token), Name));
    }
}
