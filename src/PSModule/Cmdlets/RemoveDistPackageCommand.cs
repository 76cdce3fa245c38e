using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistPackage: removes a package; refused while a job uses it unless -Force.</summary>
[Cmdlet(VerbsCommon.Remove, "DistPackage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistPackageCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageName")]
    [ArgumentCompleter(typeof(PackageNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageVersion")]
    public string Version { get; set; } = "";

    /// <summary>
    /// Also removes the saved jobs that use the package, with their status and unfinished targets; without it that is refused
    /// with PackageUsedByJob or PackageInUse. It never prompts and never stands in for -Confirm:$false.
    /// </summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (ShouldProcess($"package '{Name}' version '{Version}'", "Remove"))
        {
            Run(token => Services.Packages.RemoveAsync(Name, Version, Force, token), Name);
        }
    }
}
