using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistManager: the manager serving the data folder (or the connected manager's), if one runs; with -Connection, which one the session acts on.</summary>
[Cmdlet(VerbsCommon.Get, "DistManager", DefaultParameterSetName = ListSet)]
[OutputType(typeof(DistManagerInfo), ParameterSetName = [ListSet])]
[OutputType(typeof(DistConnection), ParameterSetName = [ConnectionSet])]
public sealed class GetDistManagerCommand : DistCmdlet
{
    private const string ListSet = "List";
    private const string ConnectionSet = "Connection";

    /// <summary>Also lists managers whose heartbeat stopped (crashed or killed).</summary>
    [Parameter(ParameterSetName = ListSet)]
    public SwitchParameter All { get; set; }

    /// <summary>Shows what the session acts on: the local data folder, or the manager it is connected to, as whom.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ConnectionSet)]
    public SwitchParameter Connection { get; set; }

    protected override void ProcessRecord()
    {
        if (Connection)
        {
            WriteObject(Run(_ => Task.FromResult(DistSession.Connection)));
            return;
        }
        WriteObject(Run(token => Services.Managers.ListAsync(token)).Where(m => All || m.IsAlive), enumerateCollection: true);
    }
}
