using System.Management.Automation;
using JP1Dist.Engine.Domain;
using JP1Dist.Engine.Jobs;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>New-DistJob: saves a job (package, destinations, type, execution time); Start-DistJob executes it.</summary>
[Cmdlet(VerbsCommon.New, "DistJob", SupportsShouldProcess = true)]
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

    [Parameter(Mandatory = true, Position = 2, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName")]
    [HostNameTransformation]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] Destination { get; set; } = [];

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

    protected override void ProcessRecord() => _destinations.AddRange(Destination);

    protected override void EndProcessing()
    {
        var destinations = _destinations.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var kind = DestinationType switch { DestinationType.HostGroup => "host group(s) ", DestinationType.IdGroup => "ID group ", _ => "" };
        if (!ShouldProcess($"job '{Name}' installing '{Package}' on {kind}{string.Join(", ", destinations)}", "Create"))
        {
            return;
        }
        var request = new NewJobRequest(Name, Package, PackageVersion, destinations, Type, DistributeAt, Description, DestinationType, RetryFailed);
        WriteObject(Run(token => Engine.Jobs.CreateAsync(request, token), Name));
    }
}
