using System.Management.Automation;
using JP1Dist.Contracts;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Update-DistSigningKey: creates a new signing key that signs from now on; the current key is announced as replaced
/// (signed by itself) and agents and relays keep trusting it for the grace period.
/// </summary>
[Cmdlet(VerbsData.Update, "DistSigningKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(DistSigningKey))]
public sealed class UpdateDistSigningKeyCommand : DistCmdlet
{
    /// <summary>How long agents and relays keep trusting the current key; 14 days when not given.</summary>
    [Parameter(Position = 0)]
    public TimeSpan GracePeriod { get; set; } = ISigningKeyService.DefaultGracePeriod;

    /// <summary>Writes the changed signing keys (the new current key and the retiring one); without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (GracePeriod <= TimeSpan.Zero || GracePeriod > ISigningKeyService.MaxGracePeriod)
        {
            ThrowInvalidArgument("SigningKeyGraceInvalid",
                $"-GracePeriod must be more than zero and at most {ISigningKeyService.MaxGracePeriod.TotalDays:0} days; it was {GracePeriod}. Nothing was changed.", GracePeriod);
        }
        var current = Run(token => Services.SigningKeys.ListAsync(token)).FirstOrDefault(k => k.State == SigningKeyState.Current);
        var retires = DateTime.Now + GracePeriod;
        if (!ShouldProcess($"signing key {current?.Fingerprint}", $"Replace with a new key; the current key stays trusted until {retires:yyyy-MM-dd HH:mm:ss}"))
        {
            return;
        }
        if (GracePeriod < SignedWorkLifetime)
        {
            WriteWarning($"The grace period ({GracePeriod}) is shorter than the lifetime of signed work ({SignedWorkLifetime.TotalDays:0} days). Everything the manager "
                + "serves is signed with the new key at once, but after the grace period agents and relays refuse what is still signed with the old key: "
                + "work a relay cut off from the manager keeps serving, and announcements that reach a host only later. "
                + "Hosts that did not connect during the grace period must be enrolled again.");
        }
        var keys = Run(token => Services.SigningKeys.RotateAsync(GracePeriod, token));
        if (PassThru)
        {
            WriteObject(keys, enumerateCollection: true);
        }
    }

    /// <summary>How long signed work is accepted as new (<c>SignedWork.Lifetime</c>).</summary>
    private static TimeSpan SignedWorkLifetime => Protocol.Signing.SignedWork.Lifetime;
}
