using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Set-DistPackage: changes what may change on a registered package: its expiry on relays.</summary>
[Cmdlet(VerbsCommon.Set, "DistPackage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistPackage))]
public sealed class SetDistPackageCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageName")]
    [ArgumentCompleter(typeof(PackageNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageVersion")]
    public string Version { get; set; } = "";

    /// <summary>The new time until which relays keep the package; must lie in the future.</summary>
    [Parameter]
    public DateTime? ExpiresAt { get; set; }

    /// <summary>Removes the expiry: relays keep the package until it is removed.</summary>
    [Parameter]
    public SwitchParameter ClearExpiry { get; set; }

    /// <summary>Writes the changed package to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        // One change at a time, and some change: a call that says neither would silently do nothing.
        if (ClearExpiry.IsPresent == (ExpiresAt is not null))
        {
            ThrowInvalidArgument("ExpiryChangeInvalid", "Give either -ExpiresAt <DateTime> or -ClearExpiry (not both) to say how the expiry changes.", Name);
        }
        DateTime? expiry = ClearExpiry ? null : ExpiresAt;
        var change = expiry is { } at ? $"Set expiry to {at:yyyy-MM-dd HH:mm:ss}" : "Clear expiry";
        if (!ShouldProcess($"package '{Name}' version '{Version}'", change))
        {
            return;
        }
        var package = Run(token => Services.Packages.SetExpiryAsync(Name, Version, expiry, token), Name);
        if (PassThru)
        {
            WriteObject(package);
        }
    }
}
