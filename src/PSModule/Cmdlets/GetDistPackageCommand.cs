using System.Management.Automation;
using JP1Dist.Engine.Domain;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistPackage: lists registered packages, filtered by name (wildcards) and version.</summary>
[Cmdlet(VerbsCommon.Get, "DistPackage")]
[OutputType(typeof(DistPackage))]
public sealed class GetDistPackageCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(PackageNameCompleter))]
    public string? Name { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageVersion")]
    public string? Version { get; set; }

    protected override void ProcessRecord()
    {
        var packages = Run(token => Engine.Packages.ListAsync(Name, Version, token));
        WriteNotFoundUnlessWildcard(Name, packages.Count, "PackageNotFound",
            $"No package named '{Name}'{(Version is null ? "" : $" version '{Version}'")} is registered.");
        WriteObject(packages, enumerateCollection: true);
    }
}
