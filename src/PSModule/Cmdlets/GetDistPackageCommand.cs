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
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(PackageNameCompleter))]
    public string[]? Name { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true, ParameterSetName = "Name")]
    [Alias("PackageVersion")]
    [ValidateNotNullOrEmpty]
    public string? Version { get; set; }

    /// <summary>A job from Get-DistJob: its package (bound by value, so the job's own Name is not taken for a package name).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Job")]
    public DistJob? Job { get; set; }

    protected override void ProcessRecord()
    {
        var names = Job is null ? Name : [Job.PackageName];
        var version = Job is null ? Version : Job.PackageVersion;
        WriteMatches(names, (pattern, token) => Services.Packages.ListAsync(pattern, version, token), p => (p.Name.ToUpperInvariant(), p.Version),
            "PackageNotFound", name => $"No package named '{name}'{(version is null ? "" : $" version '{version}'")} is registered.");
    }
}
