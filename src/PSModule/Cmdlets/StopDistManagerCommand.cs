using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Stop-DistManager: stops the manager this session started on the data folder, cleanly.</summary>
[Cmdlet(VerbsLifecycle.Stop, "DistManager", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class StopDistManagerCommand : DistCmdlet
{
    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    protected override void ProcessRecord()
    {
        var services = Services;
        var manager = Run(_ => Task.FromResult(services.Managers.GetStartedHere()), services.Location);
        if (ShouldProcess($"manager at {manager.Url} (process {manager.ProcessId})", "Stop"))
        {
            Run(token => services.Managers.StopAsync(manager.ProcessId, TimeSpan.FromSeconds(TimeoutSeconds), token), manager.Url);
        }
    }
}
