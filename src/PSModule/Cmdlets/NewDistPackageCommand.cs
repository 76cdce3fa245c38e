using System.Collections;
using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>New-DistPackage: registers a folder or file as a named, versioned package.</summary>
[Cmdlet(VerbsCommon.New, "DistPackage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(DistPackage))]
public sealed class NewDistPackageCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Version { get; set; } = "";

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string InstallCommand { get; set; } = "";

    [Parameter]
    [AllowEmptyCollection]
    public string[] InstallArguments { get; set; } = [];

    [Parameter]
    public int[] SuccessExitCode { get; set; } = [0];

    /// <summary>Exit codes that mean "installed, restart to finish": SucceededRebootRequired. 3010 and 1641 when omitted.</summary>
    [Parameter]
    [AllowEmptyCollection]
    public int[]? RebootExitCode { get; set; }

    /// <summary>Exit codes that mean "try again later" (another installation in progress): queued again. 1618 when omitted.</summary>
    [Parameter]
    [AllowEmptyCollection]
    public int[]? RetryExitCode { get; set; }

    [Parameter]
    [ValidateRange(NewPackageRequest.MinSegmentSize, NewPackageRequest.MaxSegmentSize)]
    public long SegmentSize { get; set; } = NewPackageRequest.DefaultSegmentSize;

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int InstallTimeoutSeconds { get; set; } = NewPackageRequest.DefaultInstallTimeoutSeconds;

    [Parameter]
    public string? Description { get; set; }

    /// <summary>Install conditions checked on each client right before installing (and by the manager on facts it knows).</summary>
    [Parameter]
    public Hashtable? InstallCondition { get; set; }

    /// <summary>When clients install the package they received; at once when omitted.</summary>
    [Parameter]
    public DateTimeOffset? InstallAt { get; set; }

    /// <summary>Until when relays keep the package (a management attribute, not in the signed manifest); no expiry when omitted.</summary>
    [Parameter]
    public DateTime? ExpiresAt { get; set; }

    protected override void ProcessRecord()
    {
        var path = GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess($"package '{Name}' version '{Version}' from '{path}'", "Register"))
        {
            return;
        }
        var conditions = ReadInstallConditions(InstallCondition);
        var request = new NewPackageRequest(Name, Version, path, InstallCommand, InstallArguments, SuccessExitCode, SegmentSize, Description, InstallTimeoutSeconds, conditions, InstallAt?.LocalDateTime, ExpiresAt,
            RebootExitCode, RetryExitCode);
        // Only the codes given here: the defaults above 255 are read by their low 8 bits on Linux and macOS by the agent.
        var given = MyInvocation.BoundParameters;
        if (ExitCodes.BeyondEightBits(given.ContainsKey(nameof(SuccessExitCode)) ? SuccessExitCode : [], RebootExitCode ?? [], RetryExitCode ?? [], conditions?.OS) is { Count: > 0 } wide)
        {
            WriteWarning($"Exit code{(wide.Count > 1 ? "s" : "")} {string.Join(", ", wide)} cannot be reported whole on Linux or macOS, where an exit status has "
                + "8 bits, and this package's conditions allow those systems. There the agent reads a status of 0-255 as the one listed code with "
                + "the same low 8 bits, and says so in the result; restrict the package with -InstallCondition @{ OS = 'Windows' } if it is for Windows only.");
        }
        var bar = new ProgressRecord(1, $"Registering package '{Name}' {Version}", "Reading the files");
        var package = RunWithProgress<DistPackage, PackagingProgress>(
            (progress, token) => Services.Packages.CreateAsync(request, progress, token),
            step =>
            {
                bar.PercentComplete = step.TotalBytes == 0 ? 100 : (int)(step.BytesDone * 100 / step.TotalBytes);
                bar.StatusDescription = step.CurrentFile.Length == 0
                    ? $"{step.FileCount} files {(step.Step == PackagingStep.Uploading ? "uploaded" : "stored")}"
                    : $"{step.Step} {step.CurrentFile} ({step.FilesDone + 1} of {step.FileCount})";
                WriteProgress(bar);
            },
            Name);
        bar.RecordType = ProgressRecordType.Completed;
        WriteProgress(bar);
        WriteObject(package);
    }
}
