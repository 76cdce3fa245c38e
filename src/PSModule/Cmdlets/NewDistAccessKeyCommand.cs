using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// New-DistAccessKey: creates an access key with which a session elsewhere acts on this manager in one role (Reader,
/// Operator or Administrator), optionally valid for a time (-ExpiresIn). Its text is in the Key property, shown only here.
/// </summary>
[Cmdlet(VerbsCommon.New, "DistAccessKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistAccessKey))]
public sealed class NewDistAccessKeyCommand : DistCmdlet
{
    /// <summary>
    /// The type name under which a new key is formatted: a list that shows its Key, where listings show a table (a key's text
    /// does not fit a table row, and it is shown only this once).
    /// </summary>
    internal const string CreatedTypeName = "JP1Dist.Contracts.DistAccessKey#Created";

    [Parameter(Mandatory = true, Position = 0)]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    public DistRole Role { get; set; }

    /// <summary>How long the key is accepted; no expiry when not given.</summary>
    [Parameter]
    public TimeSpan? ExpiresIn { get; set; }

    [Parameter]
    public string? Description { get; set; }

    protected override void ProcessRecord()
    {
        if (ShouldProcess($"access key '{Name}' with the role {Role}", "Create"))
        {
            var request = new NewAccessKeyRequest(Name, Role, ExpiresIn, Description);
            var created = PSObject.AsPSObject(Run(token => Services.AccessKeys.CreateAsync(request, token), Name));
            created.TypeNames.Insert(0, CreatedTypeName);
            WriteObject(created);
        }
    }
}
