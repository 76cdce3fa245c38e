using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Start-DistHost: wakes hosts with Wake-on-LAN, using the MAC address from the inventory. The manager sends the magic
/// packet for a host directly under it; a host below a relay is woken by that relay on its own network.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "DistHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistHostWake))]
public sealed class StartDistHostCommand : DistCmdlet
{
    /// <summary>The hosts to wake, by name (wildcards allowed); from the pipeline, Get-DistHost's or Get-DistJobStatus's objects.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName", "ComputerName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>Where the packet goes; by default the broadcast address of each host's last reported network.</summary>
    [Parameter]
    public string? BroadcastAddress { get; set; }

    /// <summary>The UDP port of the packet (9 by default; some sites use 7).</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = 9;

    /// <summary>A broadcast address that is not one is refused before any host is woken.</summary>
    /// <summary>Writes the changed hosts (one object for each host saying what was sent); without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        if (BroadcastAddress is not null && !System.Net.IPAddress.TryParse(BroadcastAddress.Trim(), out _))
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"The broadcast address '{BroadcastAddress}' is not an IP address; give one such as 192.168.10.255."),
                "BroadcastAddressInvalid,JP1Dist.StartDistHost", ErrorCategory.InvalidArgument, BroadcastAddress));
        }
    }

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name)
        {
            if (!ShouldProcess($"host(s) '{pattern}'", "Wake (Wake-on-LAN magic packet)"))
            {
                continue;
            }
            IReadOnlyList<DistHostWake>? results = null;
            if (!TryRun(async token => results = await Services.Hosts.WakeAsync(new WakeHostsRequest(pattern, BroadcastAddress, Port), token), pattern) || results is null)
            {
                continue;
            }
            foreach (var result in results)
            {
                if (result.Outcome is WakeOutcome.NoMacAddress or WakeOutcome.SendFailed)
                {
                    WriteWarning($"{result.HostName}: {result.Message}");
                }
                if (PassThru)
                {
                    WriteObject(result);
                }
            }
        }
    }
}
