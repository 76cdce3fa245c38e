using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Disconnect-DistManager: the session's cmdlets act on the local data folder again (or on the manager JP1DIST_MANAGER_URI names).</summary>
[Cmdlet(VerbsCommunications.Disconnect, "DistManager")]
[OutputType(typeof(DistConnection))]
public sealed class DisconnectDistManagerCommand : DistCmdlet
{
    /// <summary>Writes what the session acts on afterwards.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (!DistSession.Disconnect())
        {
            WriteVerbose("This session was not connected with Connect-DistManager.");
        }
        if (PassThru)
        {
            WriteObject(DistSession.Connection);
        }
    }
}
