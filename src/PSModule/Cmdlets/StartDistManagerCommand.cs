using System.Management.Automation;
using JP1Dist.Engine.Domain;
using JP1Dist.Engine.Manager;

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
    public string Listen { get; set; } = ManagerOptions.DefaultListenUrl;

    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 60;

    protected override void ProcessRecord()
    {
        var home = Engine.Folder.Root;
        if (!ShouldProcess($"manager on {Listen} for data folder '{home}'", "Start"))
        {
            return;
        }
        var launched = Run(token => ManagerLauncher.StartAsync(SessionManagers.ExecutableFolder, Listen, home, TimeSpan.FromSeconds(TimeoutSeconds), token), Listen);
        SessionManagers.ByHome[home] = launched;
        WriteObject(Run(token => Engine.Jobs.GetManagersAsync(token)).First(m => m.ProcessId == launched.Process.Id));
    }
}
