using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Stop-DistManager: stops the manager this session started on the data folder, cleanly.</summary>
[Cmdlet(VerbsLifecycle.Stop, "DistManager", SupportsShouldProcess = true)]
[OutputType(typeof(void))]
public sealed class StopDistManagerCommand : DistCmdlet
{
    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    protected override void ProcessRecord()
    {
        var home = Engine.Folder.Root;
        if (!SessionManagers.ByHome.TryGetValue(home, out var manager))
        {
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                $"This session started no manager on data folder '{home}'; a manager started elsewhere is stopped where it runs (Ctrl+C, or its service)."),
                "ManagerNotStartedHere", ErrorCategory.InvalidOperation, home));
        }
        if (ShouldProcess($"manager at {manager!.Url} (process {manager.Process.Id})", "Stop"))
        {
            manager.StopAsync(TimeSpan.FromSeconds(TimeoutSeconds)).GetAwaiter().GetResult();
            SessionManagers.ByHome.TryRemove(home, out _);
            manager.Dispose();
        }
    }
}
