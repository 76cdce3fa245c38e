using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistManager: the manager serving the data folder, if one runs.</summary>
[Cmdlet(VerbsCommon.Get, "DistManager")]
[OutputType(typeof(DistManagerInfo))]
public sealed class GetDistManagerCommand : DistCmdlet
{
    /// <summary>Also lists managers whose heartbeat stopped (crashed or killed).</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord() =>
        WriteObject(Run(token => Services.Managers.ListAsync(token)).Where(m => All || m.IsAlive), enumerateCollection: true);
}
