using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Deny-DistHost: refuses registrations that wait for approval: each one's credential is revoked, so the manager and every
/// relay refuse it and its agent stops.
/// </summary>
[Cmdlet(VerbsLifecycle.Deny, "DistHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class DenyDistHostCommand : DistCmdlet
{
    /// <summary>The names (wildcards allowed) of the registrations to refuse; from the pipeline, Get-DistHost -Pending's objects.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName", "ComputerName")]
    [SupportsWildcards]
    public string[] Name { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name)
        {
            var names = WildcardPattern.ContainsWildcardCharacters(pattern)
                ? Run(token => Services.Hosts.ListPendingAsync(pattern, token), pattern).Select(p => p.Name).ToList()
                : [pattern];
            foreach (var name in names)
            {
                if (ShouldProcess($"pending host '{name}'", "Deny (its credential is revoked)"))
                {
                    TryRun(token => Services.Hosts.DenyAsync(name, token), name);
                }
            }
        }
    }
}
