using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Remove-DistHost: forgets a host and its status; refused while it has unfinished work unless -Force. With -Revoke, its
/// credential is revoked too: the manager and every relay refuse it, and its agent stops.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "DistHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistHostCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName", "ComputerName")]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>
    /// Removes the host even while it has unfinished job targets (they are dropped with it); without it that is refused
    /// with HostBusy. It never prompts and never stands in for -Confirm:$false.
    /// </summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Revokes the host's credential as well: refused from then on by the manager and every relay, also for registering again.</summary>
    [Parameter]
    public SwitchParameter Revoke { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess($"host '{name}'", Revoke ? "Remove and revoke its credential" : "Remove"))
            {
                TryRun(token => Services.Hosts.RemoveAsync(name, Force, Revoke, token), name);
            }
        }
    }
}
