using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Approve-DistHost: admits registrations that wait for approval (Get-DistHost -Pending) as hosts, like freshly registered
/// ones; one that would replace an enrolled host of the same name needs -Replace.
/// </summary>
[Cmdlet(VerbsLifecycle.Approve, "DistHost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistHost))]
public sealed class ApproveDistHostCommand : DistCmdlet
{
    /// <summary>The names (wildcards allowed) of the registrations to approve; from the pipeline, Get-DistHost -Pending's objects.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("HostName", "ComputerName")]
    [SupportsWildcards]
    public string[] Name { get; set; } = [];

    /// <summary>Lets an approved registration replace the enrolled host of its name (id, history, groups and jobs; the old credential is revoked).</summary>
    [Parameter]
    public SwitchParameter Replace { get; set; }

    /// <summary>Writes the changed host (enrolled once approved); without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var pattern in Name)
        {
            // A name without wildcards goes to the engine as it is, so that what does not wait is refused with the reason.
            var names = WildcardPattern.ContainsWildcardCharacters(pattern)
                ? Run(token => Services.Hosts.ListPendingAsync(pattern, token), pattern).Select(p => (p.Name, p.ReplacesHost)).ToList()
                : [(pattern, Replace.IsPresent)];
            foreach (var (name, replaces) in names)
            {
                var action = replaces && Replace ? "Approve, replacing the enrolled host of that name" : "Approve";
                if (ShouldProcess($"pending host '{name}'", action))
                {
                    DistHost? approved = null;
                    if (TryRun(async token => approved = await Services.Hosts.ApproveAsync(name, Replace, token).ConfigureAwait(false), name) && PassThru)
                    {
                        WriteObject(approved);
                    }
                }
            }
        }
    }
}
