using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Start-DistManager: hosts a manager for this PowerShell session on the data folder, and returns once it
/// serves. It runs as a child process that ends with the session (or with Stop-DistManager).
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "DistManager", SupportsShouldProcess = true)]
[OutputType(typeof(DistManagerInfo))]
public sealed class StartDistManagerCommand : DistCmdlet
{
    /// <summary>The URL to listen on; port 0 picks a free port.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Listen { get; set; } = IManagerService.DefaultListenUrl;

    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 60;

    protected override void ProcessRecord()
    {
        var services = Services;
        if (ShouldProcess($"manager on {Listen} for data folder '{services.Location}'", "Start"))
        {
            WriteObject(Run(token => services.Managers.StartAsync(Listen, TimeSpan.FromSeconds(TimeoutSeconds), token), Listen));
        }
    }
}
