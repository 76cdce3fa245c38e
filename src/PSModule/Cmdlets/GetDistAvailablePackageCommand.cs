using System.Management.Automation;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Get-DistAvailablePackage: on a managed computer, lists the packages offered to its user by user-choice jobs (name,
/// version, size, whether installed, description), asking the agent running on the computer.
/// </summary>
[Cmdlet(VerbsCommon.Get, "DistAvailablePackage")]
[OutputType(typeof(AvailablePackage))]
public sealed class GetDistAvailablePackageCommand : AvailablePackageCmdlet
{
    /// <summary>Package names (wildcards allowed); all when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PackageName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    private IReadOnlyList<AvailablePackage>? _offered;

    protected override void ProcessRecord()
    {
        _offered ??= Ask(new LocalRequest(LocalChannelOps.List)).Available ?? [];
        if (Name is null || Name.Length == 0)
        {
            WriteObject(_offered, enumerateCollection: true);
            return;
        }
        var written = new HashSet<Guid>();
        foreach (var name in Name)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            var matched = _offered.Where(p => pattern.IsMatch(p.Name)).ToList();
            WriteNotFoundUnlessWildcard(name, matched.Count, "AvailablePackageNotFound", $"No package named '{name}' is available on this computer.");
            foreach (var package in matched.Where(p => written.Add(p.WorkItemId)))
            {
                WriteObject(package);
            }
        }
    }
}
