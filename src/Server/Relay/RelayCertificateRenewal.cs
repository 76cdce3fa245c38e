using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;
using JP1Dist.Server.Serving;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Relay;

/// <summary>
/// A relay serving https with its own certificate obtains, from its higher system, a certificate for the same key issued
/// by the manager's signing key (<see cref="RelayCertificates"/>), so that its lower clients trust it through their
/// enrollment token alone. It asks as soon as it has registered (until then it serves its own certificate), serves the
/// answer from the next connection on, keeps it in its state folder (<see cref="NodeCertificate.IssuedFileName"/>) for its
/// next start, and renews it when less than <see cref="RelayCertificates.RenewWhenLeft"/> is left, when its names or the
/// signing key it trusts changed. While its higher system cannot be reached it keeps serving what it has. An
/// administrator's certificate (--certificate) is served as it is: nothing is asked.
/// </summary>
internal sealed class RelayCertificateRenewal(RelayOptions options, RelayUpstream upstream, ServedCertificate served, ILogger<RelayCertificateRenewal> logger)
    : BackgroundService
{
    private readonly TimeProvider time = TimeProvider.System;

    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan LongestSleep = TimeSpan.FromHours(1);

    /// <summary>Serves the issued certificate kept from an earlier run, if there is one for this relay's key: before the first connection.</summary>
    public static void ServeKept(RelayOptions options, ServedCertificate served, ILogger logger)
    {
        if (served.Certificate is null || options.Tls.CertificatePath is not null || served.Pin is null)
        {
            return;
        }
        if (NodeCertificate.LoadIssued(options.StateFolder, served.Pin) is { } kept)
        {
            try
            {
                served.ServeIssued(kept.Certificate, kept.Issuer);
                logger.LogInformation("Serving the certificate the manager issued (valid until {NotAfter:u})", kept.Certificate.NotAfter.ToUniversalTime());
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                logger.LogWarning("The issued certificate in {Path} cannot be served ({Error}); serving the relay's own until a new one is issued",
                    Path.Combine(options.StateFolder, NodeCertificate.IssuedFileName), e.Message);
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (served.Certificate is null)
        {
            return; // plain http
        }
        if (options.Tls.CertificatePath is not null)
        {
            logger.LogInformation("Serving the administrator's certificate (pin {Pin}); lower clients need that pin (--certificate-pin) or a certificate authority they trust", served.Pin);
            return;
        }
        using var key = served.Certificate.GetECDsaPrivateKey();
        if (key is null)
        {
            logger.LogWarning("The relay's own key in {Path} is not an ECDSA key: the manager issues no certificate for it, lower clients need its pin", Path.Combine(options.StateFolder, NodeCertificate.FileName));
            return;
        }
        if (served.Issued is null)
        {
            logger.LogInformation("Serving the relay's own certificate (pin {Pin}) until the manager issues one, right after the relay has registered", served.Pin);
        }
        // Jittered like every other upward retry (Protocol/Backoff): relays cut off by one outage do not all ask again at the same second.
        var backoff = new Backoff(FirstRetry, LongestRetry);
        while (!stoppingToken.IsCancellationRequested)
        {
            var identity = upstream.Identity;
            if (identity is null)
            {
                await PauseAsync(TimeSpan.FromMilliseconds(200), stoppingToken); // the relay's client role registers first
                continue;
            }
            var now = time.GetUtcNow();
            var trusted = AgentTrust.TrustedIssuerFingerprints(identity, options.Token, now.UtcDateTime);
            var names = NodeCertificate.NamesFor(new Uri(options.ListenUrl));
            if (RenewalReason(served.Issued, served.Issuer, trusted, names, now) is not { } reason)
            {
                var renewAt = served.Issued!.NotAfter.ToUniversalTime() - RelayCertificates.RenewWhenLeft;
                var sleep = renewAt - now.UtcDateTime;
                await PauseAsync(sleep < TimeSpan.Zero ? TimeSpan.Zero : sleep > LongestSleep ? LongestSleep : sleep, stoppingToken);
                continue;
            }
            try
            {
                var request = RelayCertificates.Request(key, options.Name, names.Dns, names.Addresses);
                var response = await upstream.Client.RequestRelayCertificateAsync(request, stoppingToken);
                var (certificate, issuer) = Read(response);
                var check = RelayCertificates.Check(certificate, [issuer], trusted, time.GetUtcNow().UtcDateTime);
                if (!check.Accepted || !Fingerprints.Same(Fingerprints.OfCertificate(certificate), served.Pin))
                {
                    throw new CryptographicException("The higher system answered with a certificate that is not for this relay's key issued by the signing key it trusts"
                        + (check.Refusal is null ? "." : $": {check.Refusal}."));
                }
                var first = served.Issued is null;
                NodeCertificate.SaveIssued(options.StateFolder, certificate, issuer);
                served.ServeIssued(certificate, issuer);
                if (first)
                {
                    logger.LogInformation("Serving the certificate the manager issued with signing key {SigningKey} (valid until {NotAfter:u}): lower clients now trust this relay through their enrollment token",
                        check.IssuerKey, certificate.NotAfter.ToUniversalTime());
                }
                else
                {
                    logger.LogInformation("Renewed the certificate the manager issued with signing key {SigningKey}, valid until {NotAfter:u} (the last one was {Reason})",
                        check.IssuerKey, certificate.NotAfter.ToUniversalTime(), reason);
                }
                backoff.Reset();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (HigherSystemClient.IsUpwardFailure(e) || e is CryptographicException or FormatException or IOException or UnauthorizedAccessException)
            {
                var retry = backoff.Next();
                var serving = served.Issued is { } current
                    ? $"keeps serving its current certificate (valid until {current.NotAfter.ToUniversalTime():u})"
                    : "serves its own certificate meanwhile";
                logger.LogWarning("Cannot obtain a certificate from the higher system {Url} ({Error}); the relay {Serving}, trying again in {Delay:0.0} s",
                    string.Join(", ", options.HigherSystemUrls), e.Message, serving, retry.TotalSeconds);
                await PauseAsync(retry, stoppingToken);
            }
        }
    }

    /// <summary>Why a new certificate is needed now (none yet, expiring, another signing key, names missing), or null.</summary>
    internal static string? RenewalReason(X509Certificate2? current, X509Certificate2? issuer, IReadOnlyCollection<string> trusted,
        (List<string> Dns, List<System.Net.IPAddress> Addresses) names, DateTimeOffset now)
    {
        if (current is null || issuer is null)
        {
            return "none issued yet";
        }
        if (current.NotAfter.ToUniversalTime() - now.UtcDateTime < RelayCertificates.RenewWhenLeft)
        {
            return $"expiring at {current.NotAfter.ToUniversalTime():u}";
        }
        var issuerKey = Fingerprints.OfCertificate(issuer);
        if (!trusted.Any(k => Fingerprints.Same(k, issuerKey)))
        {
            return "issued by a signing key no longer trusted";
        }
        // After a rotation the old key is trusted only until it retires: move to the newest key (the last one trusted)
        // during the grace period, not when lower clients start refusing the old one.
        if (trusted.Count > 1 && !Fingerprints.Same(trusted.Last(), issuerKey))
        {
            return "issued by a signing key that has been replaced";
        }
        var san = current.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        var dns = san?.EnumerateDnsNames().ToList() ?? [];
        var addresses = san?.EnumerateIPAddresses().ToList() ?? [];
        var wanted = names.Dns.Where(RequestValidator.IsDnsName);
        return wanted.Except(dns, StringComparer.OrdinalIgnoreCase).Any() || names.Addresses.Except(addresses).Any() ? "missing a name the relay listens under" : null;
    }

    private static (X509Certificate2 Certificate, X509Certificate2 Issuer) Read(RelayCertificateResponse response)
    {
        if (response.Certificate is null || response.IssuerCertificate is null)
        {
            throw new FormatException("The higher system's answer carries no certificate.");
        }
        return (X509CertificateLoader.LoadCertificate(Convert.FromBase64String(response.Certificate)),
            X509CertificateLoader.LoadCertificate(Convert.FromBase64String(response.IssuerCertificate)));
    }

    private static async Task PauseAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
