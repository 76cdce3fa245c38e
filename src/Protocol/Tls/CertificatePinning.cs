using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Protocol.Tls;

/// <summary>
/// The server's certificate is not the one the caller pinned: nothing was sent. Not transient, so a caller does not
/// treat it as a network hiccup: an agent run with --once ends with it, a long-running agent logs it as an error.
/// </summary>
public sealed class CertificatePinMismatchException(string server, string expectedPin, string presentedPin)
    : Exception($"The certificate of {server} is not the pinned one: expected pin {expectedPin}, presented pin {presentedPin}. "
        + "Nothing was sent. If the higher system's certificate key was replaced on purpose, give the new pin with --certificate-pin "
        + "(Get-DistManager shows a manager's CertificatePin).")
{
    /// <summary>Where the connection went (scheme, host, port).</summary>
    public string Server { get; } = server;

    /// <summary>The pin the caller expected (from its enrollment token, --certificate-pin or its identity).</summary>
    public string ExpectedPin { get; } = expectedPin;

    /// <summary>The pin of the certificate the server presented.</summary>
    public string PresentedPin { get; } = presentedPin;
}

/// <summary>
/// How every node connects to a higher system (an agent or relay to its manager or relay, a session to its manager): TLS
/// 1.2 or later, and, with a pin, exactly a leaf certificate whose public key has that pin (<see cref="Fingerprints"/>),
/// whatever its names, issuer or dates; without one, the operating system's trust store decides, as for any HTTPS site.
/// </summary>
/// <remarks>
/// A pinned certificate is accepted even when expired: the pin names the key, and the key is what the agent was told to
/// trust. Refusing a self-created certificate at its expiry would cut every agent off without a gain in security; a
/// compromised key is replaced (which changes the pin), not waited out.
/// </remarks>
public static class CertificatePinning
{
    /// <summary>A handler for connections to <paramref name="pin"/>'s owner; null pin: normal validation.</summary>
    public static SocketsHttpHandler CreateHandler(string? pin)
    {
        var expected = pin is null ? null : Fingerprints.Normalize(pin)
            ?? throw new ArgumentException($"'{pin}' is not a certificate pin (64 hex digits: the SHA-256 of the certificate's public key).", nameof(pin));
        var handler = new SocketsHttpHandler();
        handler.SslOptions.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        if (expected is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (sender, certificate, _, _) => Check(sender, certificate, expected);
        }
        return handler;
    }

    /// <summary>
    /// Accepts the presented leaf when its key has the pin; otherwise throws <see cref="CertificatePinMismatchException"/>,
    /// which the HTTP stack hands back as the inner exception of its HttpRequestException (see <see cref="Unwrap"/>).
    /// </summary>
    private static bool Check(object sender, X509Certificate? certificate, string expected)
    {
        var server = sender is SslStream { TargetHostName: { Length: > 0 } host } ? host : "the higher system";
        if (certificate is null)
        {
            throw new CertificatePinMismatchException(server, expected, "(no certificate)");
        }
        var presented = certificate is X509Certificate2 full ? Fingerprints.OfCertificate(full) : OfCertificate(certificate);
        return Fingerprints.Same(presented, expected) ? true : throw new CertificatePinMismatchException(server, expected, presented);
    }

    private static string OfCertificate(X509Certificate certificate)
    {
        using var copy = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return Fingerprints.OfCertificate(copy);
    }

    /// <summary>The pin refusal behind a failed call, if that is what failed it.</summary>
    public static CertificatePinMismatchException? Unwrap(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is CertificatePinMismatchException mismatch)
            {
                return mismatch;
            }
        }
        return null;
    }
}
