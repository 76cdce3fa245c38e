using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistPackage: lists registered packages, filtered by name (wildcards) and version.</summary>
[Cmdlet(VerbsCommon.Get, "DistPackage", DefaultParameterSetName = "Name")]
[OutputType(typeof(DistPackage))]
public sealed class GetDistPackageCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [Alias("PackageName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(PackageNameCompleter))]
    public string? Name { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [Alias("PackageVersion")]
    public string? Version { get; set; }

    /// <summary>A job from Get-DistJob: its package (bound by value, so the job's own Name is not taken for a package name).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Job")]
    public DistJob? Job { get; set; }

    protected override void ProcessRecord()
    {
        if (Job is not null)
        {
            Name = Job.PackageName;
            Version = Job.PackageVersion;
        }
        var packages = Run(token => Services.Packages.ListAsync(Name, Version, token));
        WriteNotFoundUnlessWildcard(Name, packages.Count, "PackageNotFound",
            $"No package named '{Name}'{(Version is null ? "" : $" version '{Version}'")} is registered.");
        WriteObject(packages, enumerateCollection: true);
    }
}
