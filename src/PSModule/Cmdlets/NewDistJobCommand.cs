using System.Collections;
using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>New-DistJob: saves a job (package, destinations, type, execution time); Start-DistJob executes it.</summary>
[Cmdlet(VerbsCommon.New, "DistJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = PackageNameSet)]
[OutputType(typeof(DistJob))]
public sealed class NewDistJobCommand : DistCmdlet
{
    private const string PackageNameSet = "PackageName";
    private const string PackageObjectSet = "PackageObject";

    private readonly List<string> _destinations = [];
    private DistPackage? _piped;

    [Parameter(Mandatory = true, Position = 0)]
    [Alias("JobName", "Job")]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ParameterSetName = PackageNameSet)]
    [Alias("PackageName")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(PackageNameCompleter))]
    public string Package { get; set; } = "";

    /// <summary>
    /// A package from Get-DistPackage, by value through the pipeline: its name and version are the job's package. A
    /// parameter set of its own, so that the package's Name never binds to the job's -Name nor its object to -Destination.
    /// </summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = PackageObjectSet)]
    [ValidateNotNull]
    public DistPackage? InputObject { get; set; }

    /// <summary>The package version; the newest registered version when omitted.</summary>
    [Parameter(ParameterSetName = PackageNameSet)]
    [ValidateNotNullOrEmpty]
    public string? PackageVersion { get; set; }

    [Parameter(Position = 2, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PackageNameSet)]
    [Parameter(Position = 1, ParameterSetName = PackageObjectSet)]
    [Alias("HostName", "ComputerName")]
    [HostNameTransformation]
    [AllowNull]
    [AllowEmptyCollection]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? Destination { get; set; } = [];

    /// <summary>Host groups whose hosts the job reaches as well as the hosts in -Destination (each host once).</summary>
    [Parameter]
    [HostNameTransformation]
    [ValidateNotNullOrEmpty]
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

    /// <summary>When the data is transmitted; at once when omitted. A DateTimeOffset says the moment in any time zone; a DateTime is taken as local time.</summary>
    [Parameter]
    public DateTimeOffset? DistributeAt { get; set; }

    [Parameter]
    public string? Description { get; set; }

    /// <summary>Install conditions overriding the package's, condition by condition.</summary>
    [Parameter]
    public Hashtable? InstallCondition { get; set; }

    /// <summary>When clients install; overrides the package's install time.</summary>
    [Parameter]
    public DateTimeOffset? InstallAt { get; set; }

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

    protected override void ProcessRecord()
    {
        if (InputObject is not null)
        {
            if (_piped is not null && !(_piped.Name.Equals(InputObject.Name, StringComparison.OrdinalIgnoreCase) && _piped.Version == InputObject.Version))
            {
                ThrowInvalidArgument("JobPackageAmbiguous",
                    $"A job distributes one package; '{_piped.Name}' {_piped.Version} and '{InputObject.Name}' {InputObject.Version} both came through the pipeline. Nothing was created.",
                    InputObject);
            }
            _piped = InputObject;
        }
        // -Destination given but naming no host ($null, @(), '', or a Get-DistHost that matched nothing): say so at once, before
        // anything is asked or created, instead of a .NET error or a job without the hosts the caller meant.
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Destination)) && (Destination is null || Destination.Any(string.IsNullOrWhiteSpace)))
        {
            ThrowDestinationMissing("-Destination names no host (it was $null, empty or blank; for example a Get-DistHost pattern that matched nothing).");
        }
        _destinations.AddRange(Destination ?? []);
    }

    private void ThrowDestinationMissing(string why) =>
        ThrowInvalidArgument("JobDestinationMissing", $"{why} Job '{Name}' was not created.", Name);

    protected override void EndProcessing()
    {
        if (_piped is null && ParameterSetName == PackageObjectSet)
        {
            // An empty pipeline, such as Get-DistPackage 'x*' that matched nothing.
            ThrowInvalidArgument("JobPackageMissing", $"No package came through the pipeline; job '{Name}' was not created.", Name);
        }
        if (_piped is not null)
        {
            Package = _piped.Name;
            PackageVersion = _piped.Version;
        }
        if (_destinations.Count == 0 && HostGroup.Length == 0)
        {
            ThrowDestinationMissing("The job names no destination host: give -Destination or -HostGroup (an empty pipeline gives none).");
        }
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
        var request = new NewJobRequest(Name, Package, PackageVersion, destinations, Type, DistributeAt?.LocalDateTime, Description, DestinationType, RetryFailed,
            conditions, InstallAt?.LocalDateTime, SegmentInterval, BandwidthLimitKBps, groups, RebootAfter.IsPresent, ShutdownAfter.IsPresent, WakeOnLan.IsPresent, WakeLeadMinutes,
            PreDownload.IsPresent);
        WriteObject(Run(token => Services.Jobs.CreateAsync(request, token), Name));
    }
}
