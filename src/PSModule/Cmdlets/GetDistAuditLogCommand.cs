using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Get-DistAuditLog: the changes made to this manager, newest first: when, by whom (an access key or a local user), from
/// where, which operation on what, with which parameters, and whether it was done or denied.
/// </summary>
[Cmdlet(VerbsCommon.Get, "DistAuditLog")]
[OutputType(typeof(DistAuditEntry))]
public sealed class GetDistAuditLogCommand : DistCmdlet
{
    /// <summary>Only entries at or after this time.</summary>
    [Parameter]
    public DateTime? Since { get; set; }

    [Parameter]
    [SupportsWildcards]
    public string? Principal { get; set; }

    [Parameter]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(OperationCompleter))]
    public string? Operation { get; set; }

    [Parameter]
    [SupportsWildcards]
    public string? Target { get; set; }

    /// <summary>How many of the newest matching entries to return.</summary>
    [Parameter]
    [ValidateRange(1, AuditQuery.MaxFirst)]
    public int First { get; set; } = AuditQuery.DefaultFirst;

    protected override void ProcessRecord()
    {
        // One more than asked for tells whether older entries were left out.
        var asked = Math.Min(First + 1, AuditQuery.MaxFirst);
        var entries = Run(token => Services.Audit.ListAsync(new AuditQuery(Since, Principal, Operation, Target, asked), token));
        WriteObject(entries.Take(First), enumerateCollection: true);
        if (entries.Count > First)
        {
            WriteWarning($"Older entries match as well; the newest {First} are shown. Use -First for more, or -Since, -Principal, -Operation and -Target to narrow the search.");
        }
    }
}
