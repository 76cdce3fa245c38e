using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Connect-DistManager: every JP1Dist cmdlet of this session acts on a manager elsewhere, through its admin API.</summary>
[Cmdlet(VerbsCommunications.Connect, "DistManager")]
[OutputType(typeof(DistConnection))]
public sealed class ConnectDistManagerCommand : DistCmdlet
{
    /// <summary>The manager's address: https://HOST:PORT.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    public Uri Uri { get; set; } = null!;

    /// <summary>The access key (jp1key.…) that New-DistAccessKey made on the manager.</summary>
    [Parameter(Mandatory = true)]
    public string AccessKey { get; set; } = "";

    /// <summary>The pin of the manager's certificate (64 hex digits); without it, the operating system's trust store decides.</summary>
    [Parameter]
    public string? CertificatePin { get; set; }

    protected override void ProcessRecord() =>
        WriteObject(Run(token => DistSession.ConnectAsync(SessionRunspace, Uri, AccessKey, CertificatePin, token), Uri.ToString()));
}
