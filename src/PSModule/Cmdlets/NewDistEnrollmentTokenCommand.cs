using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// New-DistEnrollmentToken: creates a token that agents (or, with -Relay, relays) present at their first registration,
/// optionally valid for a time (-ExpiresIn) or a number of registrations (-MaxUses), and admitting hosts only once an
/// administrator approves them (-RequireApproval).
/// </summary>
[Cmdlet(VerbsCommon.New, "DistEnrollmentToken", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistEnrollmentToken))]
public sealed class NewDistEnrollmentTokenCommand : DistCmdlet
{
    [Parameter(Position = 0)]
    public string? Description { get; set; }

    /// <summary>How long the token admits hosts; no expiry when not given.</summary>
    [Parameter]
    public TimeSpan? ExpiresIn { get; set; }

    /// <summary>How many registrations the token admits; any number when not given.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? MaxUses { get; set; }

    /// <summary>A token for relays: only such a token registers a relay, and it registers nothing else.</summary>
    [Parameter]
    public SwitchParameter Relay { get; set; }

    /// <summary>Hosts the token admits wait (no work, no group) until Approve-DistHost; Deny-DistHost refuses them.</summary>
    [Parameter]
    public SwitchParameter RequireApproval { get; set; }

    protected override void ProcessRecord()
    {
        var what = (Relay ? "a new enrollment token for relays" : "a new enrollment token") + (RequireApproval ? " that requires approval" : "");
        if (ShouldProcess(what, "Create"))
        {
            var request = new NewEnrollmentTokenRequest(Description, ExpiresIn, MaxUses, Relay, RequireApproval);
            WriteObject(Run(token => Services.Hosts.NewEnrollmentTokenAsync(request, token)));
        }
    }
}
