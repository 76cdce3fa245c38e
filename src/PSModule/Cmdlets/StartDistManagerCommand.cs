using System.Management.Automation;
using System.Net;
using System.Security;
using JP1Dist.Contracts;
using JP1Dist.Protocol.Tls;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Start-DistManager: hosts a manager for this PowerShell session on the data folder, and returns once it
/// serves. It runs as a child process that ends with the session (or with Stop-DistManager).
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "DistManager", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistManagerInfo))]
public sealed class StartDistManagerCommand : DistCmdlet
{
    /// <summary>The URL to listen on; port 0 picks a free port.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Listen { get; set; } = IManagerService.DefaultListenUrl;

    [Parameter]
    [ValidateRange(1, 600)]
    public int TimeoutSeconds { get; set; } = 60;

    /// <summary>An administrator's certificate for an https:// listener instead of the manager's own: PFX, or PEM.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Certificate { get; set; }

    /// <summary>The PEM private key of -Certificate, when it is in a file of its own.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CertificateKey { get; set; }

    /// <summary>The password of the PFX or of an encrypted PEM key.</summary>
    [Parameter]
    public SecureString? CertificatePassword { get; set; }

    /// <summary>Allows plain http:// beyond loopback: tokens, credentials and packages then cross the network unencrypted.</summary>
    [Parameter]
    public SwitchParameter AllowInsecureHttp { get; set; }

    protected override void ProcessRecord()
    {
        var services = Services;
        var request = new ManagerStartRequest(Listen)
        {
            CertificatePath = Certificate is null ? null : GetUnresolvedProviderPathFromPSPath(Certificate),
            CertificateKeyPath = CertificateKey is null ? null : GetUnresolvedProviderPathFromPSPath(CertificateKey),
            CertificatePassword = CertificatePassword is null ? null : new NetworkCredential(string.Empty, CertificatePassword).Password,
            AllowInsecureHttp = AllowInsecureHttp,
        };
        if (AllowInsecureHttp && Uri.TryCreate(Listen, UriKind.Absolute, out var url) && PlainHttp.IsInsecure(url))
        {
            WriteWarning(PlainHttp.Warning(url));
        }
        if (ShouldProcess($"manager on {Listen} for data folder '{services.Location}'", "Start"))
        {
            WriteObject(Run(token => services.Managers.StartAsync(request, TimeSpan.FromSeconds(TimeoutSeconds), token), Listen));
        }
    }
}
