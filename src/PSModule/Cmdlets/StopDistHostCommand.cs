using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Stop-DistHost: asks the agents of hosts to shut their computers down once no install or transfer runs there, after a
/// grace period: a signed order each agent finds with its work. Get-DistHost's PowerStatus says when it was taken and done.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "DistHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistHostPower))]
public sealed class StopDistHostCommand : DistCmdlet
{
    /// <summary>The hosts to shut down, by name (wildcards allowed); from the pipeline, Get-DistHost's or Get-DistJobStatus's objects.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName", "ComputerName")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] Name { get; set; } = [];

    /// <summary>How long the agent waits, once no install or transfer runs, before it shuts the computer down.</summary>
    [Parameter]
    [ValidateRange(0, StopHostsRequest.MaxGraceSeconds)]
    public int GraceSeconds { get; set; } = StopHostsRequest.DefaultGraceSeconds;

    /// <summary>Writes the changed hosts (one object for each host asked to shut down); without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name)
        {
            if (!ShouldProcess($"host(s) '{pattern}'", $"Shut down once no install or transfer runs, after {GraceSeconds} s"))
            {
                continue;
            }
            IReadOnlyList<DistHostPower>? results = null;
            if (TryRun(async token => results = await Services.Hosts.StopAsync(new StopHostsRequest(pattern, GraceSeconds), token), pattern) && results is not null && PassThru)
            {
                WriteObject(results, enumerateCollection: true);
            }
        }
    }
}
