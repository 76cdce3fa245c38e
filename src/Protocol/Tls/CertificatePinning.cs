using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Protocol.Tls;

/// <summary>
/// The server's certificate is not one the caller trusts (not the pinned one, and not issued by a signing key it trusts):
/// nothing was sent. Not transient, so a caller does not treat it as a network hiccup: an agent run with --once ends with
/// it, a long-running agent logs it as an error.
/// </summary>
public sealed class CertificatePinMismatchException : Exception
{
    /// <summary>A certificate other than the pinned one.</summary>
    public CertificatePinMismatchException(string server, string expectedPin, string presentedPin)
        : this(server, expectedPin, [], presentedPin, null, null)
    {
    }

    /// <summary>
    /// A certificate neither pinned (<paramref name="expectedPin"/>, if any) nor issued by one of
    /// <paramref name="expectedSigningKeys"/>; <paramref name="reason"/> says why its chain did not pass.
    /// </summary>
    public CertificatePinMismatchException(string server, string? expectedPin, IReadOnlyList<string> expectedSigningKeys, string presentedPin, string? presentedIssuer, string? reason)
        : base(Describe(server, expectedPin, expectedSigningKeys, presentedPin, presentedIssuer, reason))
    {
        Server = server;
        ExpectedPin = expectedPin;
        ExpectedSigningKeys = expectedSigningKeys;
        PresentedPin = presentedPin;
        PresentedIssuer = presentedIssuer;
    }

    /// <summary>Where the connection went (scheme, host, port).</summary>
    public string Server { get; }

    /// <summary>The pin the caller expected (from its enrollment token, --certificate-pin or its identity); null when it had none.</summary>
    public string? ExpectedPin { get; }

    /// <summary>The fingerprints of the signing keys whose certificates the caller accepts (<c>AgentTrust.TrustedSigningKeys</c>).</summary>
    public IReadOnlyList<string> ExpectedSigningKeys { get; }

    /// <summary>The pin of the certificate the server presented.</summary>
    public string PresentedPin { get; }

    /// <summary>The issuer named by the certificate the server presented, when known.</summary>
    public string? PresentedIssuer { get; }

    private static string Describe(string server, string? pin, IReadOnlyList<string> keys, string presented, string? issuer, string? reason)
    {
        if (keys.Count == 0)
        {
            return $"The certificate of {server} is not the pinned one: expected pin {pin}, presented pin {presented}. "
                + "Nothing was sent. If the higher system's certificate key was replaced on purpose, give the new pin with --certificate-pin "
                + "(Get-DistManager shows a manager's CertificatePin).";
        }
        var expected = (pin is null ? "" : $"the certificate with pin {pin} or ")
            + $"a certificate issued by the manager's signing key {string.Join(" or ", keys)}";
        var shown = $"pin {presented}" + (issuer is null ? "" : $", issued by '{issuer}'") + (reason is null ? "" : $" ({reason})");
        return $"The certificate of {server} is not trusted: expected {expected}; presented {shown}. Nothing was sent. "
            + "A relay serves a certificate issued by the manager once it has registered; one that serves another certificate "
            + "(--certificate) is reached with its pin (--certificate-pin) or a certificate this computer trusts.";
    }
}

/// <summary>
/// How every node connects to a higher system (an agent or relay to its manager or relay, a session to its manager): TLS
/// 1.2 or later, and a server is accepted when its leaf certificate's public key has the pin (<see cref="Fingerprints"/>),
/// whatever its names, issuer or dates; or when its chain shows that the leaf was issued by a signing key the caller
/// trusts (<see cref="RelayCertificates.Check"/>: a relay's certificate, issued by the manager); or, without a pin, when
/// the operating system's trust store accepts it, as for any HTTPS site. Anything else is refused before a byte is sent.
/// </summary>
/// <remarks>
/// A pinned certificate is accepted even when expired: the pin names the key, and the key is what the agent was told to
/// trust. Refusing a self-created certificate at its expiry would cut every agent off without a gain in security; a
/// compromised key is replaced (which changes the pin), not waited out. A certificate issued by a signing key is accepted
/// only within its dates: it is short-lived and renewed by its relay, so a relay that is removed loses it.
/// </remarks>
public static class CertificatePinning
{
    /// <summary>
    /// A handler for connections to a higher system: <paramref name="pin"/> names the one certificate key accepted as it is
    /// (null: none); <paramref name="trustedSigningKeys"/>, asked at each handshake so that it follows enrollment and key
    /// changes, lists the signing keys whose certificates are accepted (null: none). Neither: normal validation.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(string? pin, Func<IReadOnlyCollection<string>>? trustedSigningKeys = null)
    {
        var expected = pin is null ? null : Fingerprints.Normalize(pin)
            ?? throw new ArgumentException($"'{pin}' is not a certificate pin (64 hex digits: the SHA-256 of the certificate's public key).", nameof(pin));
        var handler = new SocketsHttpHandler();
        handler.SslOptions.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        if (expected is not null || trustedSigningKeys is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
                Check(sender, certificate, chain, errors, expected, trustedSigningKeys?.Invoke() ?? []);
        }
        return handler;
    }

    /// <summary>
    /// Accepts the presented leaf when its key has the pin, when it was issued by a trusted signing key, or (without a pin)
    /// when the operating system trusts it; otherwise throws <see cref="CertificatePinMismatchException"/>, which the HTTP
    /// stack hands back as the inner exception of its HttpRequestException (see <see cref="Unwrap"/>).
    /// </summary>
    private static bool Check(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, string? expected, IReadOnlyCollection<string> keys)
    {
        if (expected is null && keys.Count == 0)
        {
            return errors == SslPolicyErrors.None;
        }
        var server = sender is SslStream { TargetHostName: { Length: > 0 } host } ? host : "the higher system";
        var trusted = keys.Select(k => Fingerprints.Normalize(k) ?? k).ToList();
        if (certificate is null)
        {
            throw new CertificatePinMismatchException(server, expected, trusted, "(no certificate)", null, null);
        }
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var presented = Fingerprints.OfCertificate(leaf);
        if (expected is not null && Fingerprints.Same(presented, expected))
        {
            return true;
        }
        IssuedCertificateCheck? issued = null;
        if (trusted.Count > 0)
        {
            issued = RelayCertificates.Check(leaf, Presented(chain), trusted, DateTime.UtcNow);
            if (issued.Accepted)
            {
                return true;
            }
        }
        if (expected is null && errors == SslPolicyErrors.None)
        {
            return true; // no pin: a certificate this computer trusts (an administrator's, from a public or company CA)
        }
        throw new CertificatePinMismatchException(server, expected, trusted, presented, leaf.Issuer, issued?.Refusal);
    }

    /// <summary>The certificates the server sent besides its leaf (the TLS stack puts them in the chain's extra store), and the chain it built.</summary>
    private static IEnumerable<X509Certificate2> Presented(X509Chain? chain)
    {
        if (chain is null)
        {
            yield break;
        }
        foreach (var certificate in chain.ChainPolicy.ExtraStore)
        {
            yield return certificate;
        }
        foreach (var element in chain.ChainElements)
        {
            yield return element.Certificate;
        }
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
