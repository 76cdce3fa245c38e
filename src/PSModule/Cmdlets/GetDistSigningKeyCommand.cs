using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistSigningKey: the manager's signing keys, the current one first, with their state.</summary>
[Cmdlet(VerbsCommon.Get, "DistSigningKey")]
[OutputType(typeof(DistSigningKey))]
public sealed class GetDistSigningKeyCommand : DistCmdlet
{
    /// <summary>Only keys in these states (Current, Retiring, Retired); every key when not given.</summary>
    [Parameter]
    public SigningKeyState[]? State { get; set; }

    protected override void ProcessRecord() =>
        WriteObject(Run(token => Services.SigningKeys.ListAsync(token)).Where(k => State is null || State.Contains(k.State)), enumerateCollection: true);
}
