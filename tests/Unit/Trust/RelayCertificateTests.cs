using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;
using Xunit;

namespace JP1Dist.Tests.Trust;

/// <summary>
/// Relay certificates issued by the manager's signing key: what the manager issues, and what a client accepts. Each refusal
/// is a certificate an attacker could present: expired, issued by another key, signed by the right key but not for a
/// server, a CA presented as a server, a forged certificate of the right key, a leaf that names the right issuer but is
/// signed by another key. Keys are named by fingerprints computed here with SHA-256, apart from the product's code.
/// </summary>
public sealed class RelayCertificateTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-relaycert-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ManifestSigner _signer;
    private readonly ManifestSigner _otherSigner;
    private readonly ECDsa _relayKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly string _signingKey;

    public RelayCertificateTests()
    {
        _signer = ManifestSigner.LoadOrCreate(Path.Combine(_root, "keys"));
        _otherSigner = ManifestSigner.LoadOrCreate(Path.Combine(_root, "other-keys"));
        _signingKey = Convert.ToHexStringLower(SHA256.HashData(Convert.FromBase64String(_signer.PublicKey)));
    }

    private RelayCertificateRequest Request(params string[] dns) =>
        new(RelayCertificates.CreateSigningRequest(_relayKey, "relay-osaka"), dns.Length == 0 ? ["relay-osaka.example", "localhost"] : dns, ["127.0.0.1", "::1"]);

    private IssuedRelayCertificate Issue(DateTimeOffset? now = null) =>
        RelayCertificates.Issue(_signer, Request(), "relay-osaka", Guid.NewGuid(), now ?? DateTimeOffset.UtcNow);

    [Fact]
    public void The_manager_issues_a_server_certificate_for_the_relays_key_under_a_ca_certificate_of_its_signing_key()
    {
        using var issued = Issue();
        var leaf = issued.Certificate;
        var issuer = issued.Issuer;

        Assert.False(leaf.HasPrivateKey);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_relayKey.ExportSubjectPublicKeyInfo())), Fingerprints.OfCertificate(leaf));
        Assert.Equal(_signingKey, Convert.ToHexStringLower(SHA256.HashData(issuer.PublicKey.ExportSubjectPublicKeyInfo())));
        var constraints = issuer.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(constraints is { CertificateAuthority: true, HasPathLengthConstraint: true, PathLengthConstraint: 0, Critical: true });
        Assert.Equal(issuer.SubjectName.RawData, leaf.IssuerName.RawData);
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(["1.3.6.1.5.5.7.3.1"], leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["relay-osaka.example", "localhost"], names.EnumerateDnsNames());
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], names.EnumerateIPAddresses());
        Assert.InRange(leaf.NotAfter - leaf.NotBefore - SignedWork.ClockSkew - RelayCertificates.Lifetime, TimeSpan.FromSeconds(-2), TimeSpan.FromSeconds(2));
        Assert.Contains("relay-osaka", leaf.Subject, StringComparison.Ordinal);

        // openssl, when this computer has it, agrees: the leaf verifies under the issuer certificate for a TLS server.
        if (OpenSslVerify(leaf, issuer) is { } verdict)
        {
            Assert.Contains(": OK", verdict, StringComparison.Ordinal);
        }

        var check = RelayCertificates.Check(leaf, [issuer], [_signingKey.ToUpperInvariant()], DateTime.UtcNow);
        Assert.True(check.Accepted, check.Refusal);
        Assert.Equal(_signingKey, check.IssuerKey);
    }

    [Fact]
    public void A_leaf_is_accepted_only_within_its_dates_give_or_take_the_clock_skew()
    {
        using var issued = Issue(DateTimeOffset.UtcNow - RelayCertificates.Lifetime - TimeSpan.FromDays(1));
        var notAfter = issued.Certificate.NotAfter.ToUniversalTime();
        var notBefore = issued.Certificate.NotBefore.ToUniversalTime();

        var expired = RelayCertificates.Check(issued.Certificate, [issued.Issuer], [_signingKey], DateTime.UtcNow);
        Assert.False(expired.Accepted);
        Assert.Contains("expired", expired.Refusal, StringComparison.Ordinal);
        Assert.True(RelayCertificates.Check(issued.Certificate, [issued.Issuer], [_signingKey], notAfter + SignedWork.ClockSkew - TimeSpan.FromMinutes(1)).Accepted);
        Assert.False(RelayCertificates.Check(issued.Certificate, [issued.Issuer], [_signingKey], notAfter + SignedWork.ClockSkew + TimeSpan.FromMinutes(1)).Accepted);
        var early = RelayCertificates.Check(issued.Certificate, [issued.Issuer], [_signingKey], notBefore - SignedWork.ClockSkew - TimeSpan.FromMinutes(1));
        Assert.False(early.Accepted);
        Assert.Contains("valid only from", early.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_issued_by_another_managers_key_is_refused()
    {
        using var issued = RelayCertificates.Issue(_otherSigner, Request(), "relay-osaka", Guid.NewGuid(), DateTimeOffset.UtcNow);

        var check = RelayCertificates.Check(issued.Certificate, [issued.Issuer], [_signingKey], DateTime.UtcNow);
        Assert.False(check.Accepted);
        Assert.Null(check.IssuerKey);
        Assert.Contains(_signingKey, check.Refusal, StringComparison.Ordinal);
        // Nor is a chain without the issuer certificate, nor a trusted set that is empty.
        using var ours = Issue();
        Assert.False(RelayCertificates.Check(ours.Certificate, [], [_signingKey], DateTime.UtcNow).Accepted);
        Assert.False(RelayCertificates.Check(ours.Certificate, [ours.Issuer], [], DateTime.UtcNow).Accepted);
    }

    [Fact]
    public void A_leaf_signed_by_the_right_key_but_not_for_server_authentication_is_refused()
    {
        using var issuer = RelayCertificates.IssuerCertificate(_signer, DateTimeOffset.UtcNow);
        using var noUsage = Leaf(issuer, _signer.CertificateSignatureGenerator(), usages: null);
        using var clientOnly = Leaf(issuer, _signer.CertificateSignatureGenerator(), usages: "1.3.6.1.5.5.7.3.2");
        using var server = Leaf(issuer, _signer.CertificateSignatureGenerator(), usages: "1.3.6.1.5.5.7.3.1");

        foreach (var leaf in new[] { noUsage, clientOnly })
        {
            var check = RelayCertificates.Check(leaf, [issuer], [_signingKey], DateTime.UtcNow);
            Assert.False(check.Accepted);
            Assert.Contains("server authentication", check.Refusal, StringComparison.Ordinal);
        }
        Assert.True(RelayCertificates.Check(server, [issuer], [_signingKey], DateTime.UtcNow).Accepted, "the same leaf with server auth passes");
    }

    [Fact]
    public void A_ca_certificate_presented_as_the_servers_is_refused()
    {
        using var issuer = RelayCertificates.IssuerCertificate(_signer, DateTimeOffset.UtcNow);
        using var ca = Leaf(issuer, _signer.CertificateSignatureGenerator(), usages: "1.3.6.1.5.5.7.3.1", certificateAuthority: true);

        var check = RelayCertificates.Check(ca, [issuer], [_signingKey], DateTime.UtcNow);
        Assert.False(check.Accepted);
        Assert.Contains("CA certificate", check.Refusal, StringComparison.Ordinal);
        // The issuer certificate itself as the leaf: nothing else in the chain carries the key.
        Assert.False(RelayCertificates.Check(issuer, [issuer], [_signingKey], DateTime.UtcNow).Accepted);
    }

    [Fact]
    public void A_leaf_naming_the_right_issuer_but_signed_by_another_key_is_refused()
    {
        using var issuer = RelayCertificates.IssuerCertificate(_signer, DateTimeOffset.UtcNow);
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var forged = Leaf(issuer, X509SignatureGenerator.CreateForECDsa(attacker), usages: "1.3.6.1.5.5.7.3.1");

        var check = RelayCertificates.Check(forged, [issuer], [_signingKey], DateTime.UtcNow);
        Assert.False(check.Accepted);
        Assert.Contains("signature does not verify", check.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_of_the_right_key_made_by_someone_else_is_not_an_issuer()
    {
        // Anyone can put the manager's public key in a certificate; only the key's holder can sign it.
        using var attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var real = RelayCertificates.IssuerCertificate(_signer, DateTimeOffset.UtcNow);
        var request = new CertificateRequest(real.SubjectName, real.PublicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        using var fake = request.Create(real.IssuerName, X509SignatureGenerator.CreateForECDsa(attacker), DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), [7, 7, 7]);
        using var leaf = Leaf(fake, X509SignatureGenerator.CreateForECDsa(attacker), usages: "1.3.6.1.5.5.7.3.1");

        var check = RelayCertificates.Check(leaf, [fake], [_signingKey], DateTime.UtcNow);
        Assert.False(check.Accepted);
        Assert.Contains("not signed by that key", check.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void An_issuer_certificate_that_is_no_ca_does_not_issue()
    {
        var fingerprint = _signingKey;
        var request = new CertificateRequest(new X500DistinguishedName("CN=JP1Dist relay certificates"), PublicKey.CreateFromSubjectPublicKeyInfo(Convert.FromBase64String(_signer.PublicKey), out _), HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using var notCa = request.Create(new X500DistinguishedName("CN=JP1Dist signing key"), _signer.CertificateSignatureGenerator(),
            DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), [1, 2, 3]);
        using var leaf = Leaf(notCa, _signer.CertificateSignatureGenerator(), usages: "1.3.6.1.5.5.7.3.1");

        var check = RelayCertificates.Check(leaf, [notCa], [fingerprint], DateTime.UtcNow);
        Assert.False(check.Accepted);
        Assert.Contains("not a CA certificate", check.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void The_manager_refuses_a_signing_request_that_is_not_one_or_not_for_an_ecdsa_key()
    {
        using var rsa = RSA.Create(2048);
        var rsaRequest = Convert.ToBase64String(new CertificateRequest("CN=relay", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        var tampered = Convert.FromBase64String(RelayCertificates.CreateSigningRequest(_relayKey, "relay"));
        tampered[^5] ^= 0x55; // inside the signature

        foreach (var signingRequest in new[] { rsaRequest, Convert.ToBase64String(tampered), Convert.ToBase64String([1, 2, 3, 4]) })
        {
            var refused = Assert.Throws<DistException>(() => RelayCertificates.Issue(_signer, Request() with { SigningRequest = signingRequest }, "relay", Guid.NewGuid(), DateTimeOffset.UtcNow));
            Assert.Equal("CertificateRequestInvalid", refused.ErrorId);
        }
    }

    [Theory]
    [InlineData("*.example.com")]
    [InlineData("-relay.example")]
    [InlineData("relay..example")]
    [InlineData("relay example")]
    [InlineData("")]
    public void A_certificate_request_with_a_name_that_is_no_host_name_is_refused(string name)
    {
        var problem = RequestValidator.Check(Request(name));
        Assert.NotNull(problem);
        Assert.Equal("dnsNames[0]", problem.Field);
    }

    [Fact]
    public void A_certificate_request_is_bounded()
    {
        Assert.Null(RequestValidator.Check(Request()));
        Assert.Equal("dnsNames", RequestValidator.Check(Request() with { DnsNames = Enumerable.Range(0, ProtocolLimits.MaxCertificateNames + 1).Select(i => $"n{i}.example").ToList() })!.Field);
        Assert.Equal("ipAddresses[0]", RequestValidator.Check(Request() with { IPAddresses = ["10.0.0.1%eth0"] })!.Field);
        Assert.Equal("ipAddresses[0]", RequestValidator.Check(Request() with { IPAddresses = ["not-an-address"] })!.Field);
        Assert.Equal("signingRequest", RequestValidator.Check(Request() with { SigningRequest = new string('A', ProtocolLimits.SigningRequestLength + 4) })!.Field);
        Assert.Equal("signingRequest", RequestValidator.Check(Request() with { SigningRequest = "not base64!" })!.Field);
        Assert.Equal("dnsNames", RequestValidator.Check(Request() with { DnsNames = [], IPAddresses = [] })!.Field);
        Assert.Equal("hostId", RequestValidator.Check(Request() with { HostId = Guid.Empty })!.Field);
    }

    [Fact]
    public void A_node_trusts_the_key_of_its_identity_once_registered_and_the_tokens_before()
    {
        var tokenKey = new string('b', 64);
        var token = new EnrollmentTokenText("secret", tokenKey, new string('c', 64)).ToString();
        var identity = new AgentIdentity(new Uri("https://relay.example:22401"), "pc", Guid.NewGuid(), "credential", _signer.PublicKey);

        Assert.Equal([tokenKey], AgentTrust.TrustedIssuerFingerprints(null, token, DateTime.UtcNow));
        Assert.Equal([_signingKey], AgentTrust.TrustedIssuerFingerprints(identity, token, DateTime.UtcNow));
        Assert.Empty(AgentTrust.TrustedIssuerFingerprints(null, "secret-without-fingerprints", DateTime.UtcNow));
        Assert.Empty(AgentTrust.TrustedIssuerFingerprints(null, null, DateTime.UtcNow));
    }

    [Fact]
    public void A_relay_asks_again_when_it_has_none_when_less_than_half_is_left_when_the_key_it_trusts_changed_or_a_name_is_missing()
    {
        var names = (new List<string> { "relay-osaka.example", "localhost", "bad_name" }, new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback });
        var now = DateTimeOffset.UtcNow;
        using var issued = Issue(now);

        Assert.Null(Server.Relay.RelayCertificateRenewal.RenewalReason(issued.Certificate, issued.Issuer, [_signingKey], names, now));
        Assert.Equal("none issued yet", Server.Relay.RelayCertificateRenewal.RenewalReason(null, null, [_signingKey], names, now));
        Assert.StartsWith("expiring", Server.Relay.RelayCertificateRenewal.RenewalReason(issued.Certificate, issued.Issuer, [_signingKey], names,
            now + RelayCertificates.Lifetime - RelayCertificates.RenewWhenLeft + TimeSpan.FromMinutes(1)));
        Assert.Null(Server.Relay.RelayCertificateRenewal.RenewalReason(issued.Certificate, issued.Issuer, [_signingKey], names,
            now + RelayCertificates.Lifetime - RelayCertificates.RenewWhenLeft - TimeSpan.FromMinutes(1)));
        Assert.Contains("signing key", Server.Relay.RelayCertificateRenewal.RenewalReason(issued.Certificate, issued.Issuer, [new string('d', 64)], names, now));
        // A rotation: the issuing key is still trusted in its grace period, but the newest key is another: ask for a new one now.
        Assert.Equal("issued by a signing key that has been replaced",
            Server.Relay.RelayCertificateRenewal.RenewalReason(issued.Certificate, issued.Issuer, [_signingKey, new string('e', 64)], names, now));
        Assert.Null(Server.Relay.RelayCertificateRenewal.RenewalReason(issued.Certificate, issued.Issuer, [new string('e', 64), _signingKey], names, now));
        names.Item1.Add("relay-kobe.example");
        Assert.Contains("name", Server.Relay.RelayCertificateRenewal.RenewalReason(issued.Certificate, issued.Issuer, [_signingKey], names, now));
    }

    /// <summary>A leaf for the relay's key naming <paramref name="issuer"/>, signed by <paramref name="signature"/>, with the given usage and CA flag.</summary>
    private X509Certificate2 Leaf(X509Certificate2 issuer, X509SignatureGenerator signature, string? usages, bool certificateAuthority = false)
    {
        var request = new CertificateRequest("CN=relay-osaka", _relayKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority, false, 0, true));
        if (usages is not null)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usages)], false));
        }
        var now = DateTimeOffset.UtcNow;
        return request.Create(issuer.SubjectName, signature, now.AddHours(-1), now.AddDays(30), RandomNumberGenerator.GetBytes(8));
    }

    /// <summary>What `openssl verify` says of the leaf with the issuer as its trust anchor, for a TLS server; null without openssl.</summary>
    private string? OpenSslVerify(X509Certificate2 leaf, X509Certificate2 issuer)
    {
        if (OperatingSystem.IsWindows() || !File.Exists("/usr/bin/openssl") && !File.Exists("/bin/openssl"))
        {
            return null;
        }
        var leafPath = Path.Combine(_root, "leaf.pem");
        var issuerPath = Path.Combine(_root, "issuer.pem");
        File.WriteAllText(leafPath, leaf.ExportCertificatePem());
        File.WriteAllText(issuerPath, issuer.ExportCertificatePem());
        var start = new System.Diagnostics.ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "verify", "-partial_chain", "-purpose", "sslserver", "-CAfile", issuerPath, leafPath })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "openssl did not finish");
        return output;
    }

    public void Dispose()
    {
        _signer.Dispose();
        _otherSigner.Dispose();
        _relayKey.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
