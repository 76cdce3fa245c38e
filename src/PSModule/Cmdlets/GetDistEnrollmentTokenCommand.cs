using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistEnrollmentToken: lists enrollment tokens (never their secrets) with their limits, uses and status.</summary>
[Cmdlet(VerbsCommon.Get, "DistEnrollmentToken")]
[OutputType(typeof(DistEnrollmentToken))]
public sealed class GetDistEnrollmentTokenCommand : DistCmdlet
{
    /// <summary>The tokens to show, by id; all when not given.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    public int[]? Id { get; set; }

    protected override void ProcessRecord()
    {
        var tokens = Run(token => Services.Hosts.ListEnrollmentTokensAsync(token));
        if (Id is null)
        {
            WriteObject(tokens, enumerateCollection: true);
            return;
        }
        foreach (var id in Id)
        {
            var found = tokens.Where(t => t.Id == id).ToList();
            WriteNotFoundUnlessWildcard(id.ToString(System.Globalization.CultureInfo.InvariantCulture), found.Count, "EnrollmentTokenNotFound",
                $"No enrollment token has id {id}; Get-DistEnrollmentToken lists them.");
            WriteObject(found, enumerateCollection: true);
        }
    }
}
