using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Protocol.Tls;

/// <summary>A relay certificate and the certificate of the signing key that issued it, as the manager hands them out.</summary>
public sealed record IssuedRelayCertificate(X509Certificate2 Certificate, X509Certificate2 Issuer) : IDisposable
{
    /// <summary>The answer on the wire: both certificates, base64 DER.</summary>
    public RelayCertificateResponse ToResponse() => new(Convert.ToBase64String(Certificate.RawData), Convert.ToBase64String(Issuer.RawData));

    public void Dispose()
    {
        Certificate.Dispose();
        Issuer.Dispose();
    }
}

/// <summary>Whether a server's certificate was issued by a trusted signing key: the key that issued it, or why it was not accepted.</summary>
/// <param name="IssuerKey">The fingerprint of the trusted signing key whose certificate the chain presents (null: none of them).</param>
/// <param name="Refusal">Why the certificate is not accepted; null when it is.</param>
public sealed record IssuedCertificateCheck(string? IssuerKey, string? Refusal)
{
    /// <summary>True when the certificate may be trusted.</summary>
    public bool Accepted => Refusal is null && IssuerKey is not null;
}

/// <summary>
/// The relays' TLS certificates, issued by the manager's signing key (<see cref="ManifestSigner"/>), in one place: what the
/// manager issues (<see cref="Issue"/>), what a relay asks for (<see cref="CreateSigningRequest"/>), and what a client
/// accepts (<see cref="Check"/>). A client trusts the signing key through its enrollment token (its fingerprint) or its
/// identity (the key itself), so a relay with such a certificate needs no pin of its own.
/// </summary>
/// <remarks>
/// <para>The issuer certificate is the signing key's own certificate: it carries that key, is signed by it, is a CA
/// (basic constraints, path length 0: it issues leaves only) and is made afresh with each leaf. Its issuer name differs
/// from its subject name on purpose: TLS stacks leave a self-issued (root) certificate out of the chain a server sends,
/// expecting the client to hold it already, while a client that knows only the key's fingerprint needs the certificate
/// to see the key. Trust never comes from the names: only from the fingerprint of the key.</para>
/// <para>The leaf: the relay's own public key (its signing request proves the relay holds the private key, which never
/// leaves the relay), server authentication only, the names the relay asked for, valid for <see cref="Lifetime"/>.</para>
/// <para>Host names are not checked by clients: the manager cannot verify that a relay owns the names it asks for, so
/// any relay could obtain any name, and checking names would only seem to add something; relays are also reached by
/// addresses (NAT, aliases, a changed DHCP lease) their certificate could not foresee. The certificate vouches that the
/// server is a relay the manager admitted, as a pin vouches for one key whatever its names.</para>
/// </remarks>
public static class RelayCertificates
{
    /// <summary>How long a relay certificate is valid. A relay renews it once less than half of it is left (<see cref="RenewWhenLeft"/>).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(30);

    /// <summary>A relay asks for a new certificate once its current one has less than this left.</summary>
    public static readonly TimeSpan RenewWhenLeft = TimeSpan.FromDays(15);

    private static readonly TimeSpan IssuerLifetime = TimeSpan.FromDays(3650);

    /// <summary>The extended key usage a relay certificate must carry: TLS server authentication.</summary>
    public const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>The most certificates of a presented chain that are looked at (a relay sends two).</summary>
    private const int MaxPresented = 8;

    // ---- the relay ----

    /// <summary>A relay's signing request for its own <paramref name="key"/>: base64 DER PKCS#10, signed by that key.</summary>
    public static string CreateSigningRequest(ECDsa key, string relayName)
    {
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(CommonName(relayName));
        return Convert.ToBase64String(new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256).CreateSigningRequest());
    }

    /// <summary>
    /// A certificate request for the names a relay serves under: the ones <paramref name="dns"/> and <paramref name="addresses"/>
    /// list that a certificate can carry (host names, not wildcards; addresses without a zone).
    /// </summary>
    public static RelayCertificateRequest Request(ECDsa key, string relayName, IEnumerable<string> dns, IEnumerable<IPAddress> addresses) => new(
        CreateSigningRequest(key, relayName),
        dns.Where(RequestValidator.IsDnsName).Distinct(StringComparer.OrdinalIgnoreCase).Take(ProtocolLimits.MaxCertificateNames).ToList(),
        addresses.Select(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? new IPAddress(a.GetAddressBytes()) : a).Select(a => a.ToString()).Distinct().Take(ProtocolLimits.MaxCertificateNames).ToList());

    // ---- the manager ----

    /// <summary>
    /// Issues a relay's certificate with the manager's signing key. The request was checked against the limits
    /// (<see cref="RequestValidator.Check(RelayCertificateRequest)"/>); here its signing request is read and its signature
    /// checked (CertificateRequestInvalid when it is not a signing request for an ECDSA P-256 or P-384 key it signed itself).
    /// </summary>
    public static IssuedRelayCertificate Issue(ManifestSigner signer, RelayCertificateRequest request, string relayName, Guid relayId, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(request);
        var publicKey = ReadSigningRequest(request.SigningRequest);
        var issuer = IssuerCertificate(signer, now);
        try
        {
            var subject = new X500DistinguishedNameBuilder();
            subject.AddOrganizationName("JP1Dist");
            subject.AddOrganizationalUnitName("relay " + relayId.ToString("D"));
            subject.AddCommonName(CommonName(relayName));
            var leaf = new CertificateRequest(subject.Build(), publicKey, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in request.DnsNames ?? [])
            {
                san.AddDnsName(name);
            }
            foreach (var address in request.IPAddresses ?? [])
            {
                san.AddIpAddress(IPAddress.Parse(address));
            }
            leaf.CertificateExtensions.Add(san.Build());
            leaf.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            leaf.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            leaf.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthenticationOid, "Server Authentication")], false));
            leaf.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(leaf.PublicKey, false));
            leaf.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
            var certificate = leaf.Create(issuer.SubjectName, signer.CertificateSignatureGenerator(), now - SignedWork.ClockSkew, now + Lifetime, Serial());
            return new IssuedRelayCertificate(certificate, issuer);
        }
        catch
        {
            issuer.Dispose();
            throw;
        }
    }

    /// <summary>The public key of a relay's signing request, whose signature it checks; CertificateRequestInvalid otherwise.</summary>
    public static PublicKey ReadSigningRequest(string signingRequest)
    {
        CertificateRequest request;
        try
        {
            request = CertificateRequest.LoadSigningRequest(Convert.FromBase64String(signingRequest), HashAlgorithmName.SHA256);
        }
        catch (Exception e) when (e is FormatException or CryptographicException or ArgumentException or AsnContentException)
        {
            throw new DistException("CertificateRequestInvalid", DistErrorKind.InvalidArgument,
                $"'signingRequest' is not a PKCS#10 certificate signing request signed by its own key ({e.Message}); nothing was issued.", "signingRequest", e);
        }
        using var key = request.PublicKey.GetECDsaPublicKey();
        if (key is null || key.KeySize is not (256 or 384))
        {
            throw new DistException("CertificateRequestInvalid", DistErrorKind.InvalidArgument,
                "'signingRequest' is not for an ECDSA P-256 or P-384 key, the keys relay certificates are issued for; nothing was issued.", "signingRequest");
        }
        return request.PublicKey;
    }

    /// <summary>The certificate of the signing key: carries and is signed by it, a CA that issues leaves only (path length 0).</summary>
    public static X509Certificate2 IssuerCertificate(ManifestSigner signer, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(signer);
        var spki = Convert.FromBase64String(signer.PublicKey);
        var fingerprint = Fingerprints.OfPublicKey(spki);
        var request = new CertificateRequest(KeyName("JP1Dist relay certificates", fingerprint), PublicKey.CreateFromSubjectPublicKeyInfo(spki, out _), HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        // Not self-issued (see the remarks): a TLS server would leave a self-issued certificate out of its chain.
        return request.Create(KeyName("JP1Dist signing key", fingerprint), signer.CertificateSignatureGenerator(), now - SignedWork.ClockSkew, now + IssuerLifetime, Serial());
    }

    // ---- the client ----

    /// <summary>
    /// Whether <paramref name="leaf"/> was issued by one of the <paramref name="trustedKeys"/> (fingerprints of signing keys):
    /// one of the <paramref name="presented"/> certificates carries a trusted key, is a CA limited to issuing leaves, is signed
    /// by its own key, is valid at <paramref name="now"/> and names the leaf's issuer; the leaf's signature verifies with
    /// that key; the leaf is no CA, is for server authentication and is valid at <paramref name="now"/> (give or take
    /// <see cref="SignedWork.ClockSkew"/>). Names are not checked (see the remarks of <see cref="RelayCertificates"/>).
    /// </summary>
    public static IssuedCertificateCheck Check(X509Certificate2 leaf, IEnumerable<X509Certificate2> presented, IReadOnlyCollection<string> trustedKeys, DateTime now)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(presented);
        ArgumentNullException.ThrowIfNull(trustedKeys);
        var candidates = presented.Take(MaxPresented)
            .Where(c => !c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
            .Select(c => (Certificate: c, Key: Fingerprints.OfCertificate(c)))
            .Where(c => trustedKeys.Any(k => Fingerprints.Same(k, c.Key)))
            .ToList();
        if (candidates.Count == 0)
        {
            return new IssuedCertificateCheck(null, $"its chain carries no certificate of the signing key{(trustedKeys.Count == 1 ? "" : "s")} {string.Join(", ", trustedKeys)}");
        }
        IssuedCertificateCheck? first = null;
        foreach (var (issuer, key) in candidates)
        {
            var refusal = IssuerRefusal(issuer, key, now) ?? LeafRefusal(leaf, issuer, key, now);
            if (refusal is null)
            {
                return new IssuedCertificateCheck(key, null);
            }
            first ??= new IssuedCertificateCheck(key, refusal);
        }
        return first!;
    }

    private static string? IssuerRefusal(X509Certificate2 issuer, string key, DateTime now)
    {
        var constraints = issuer.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is not { CertificateAuthority: true, HasPathLengthConstraint: true, PathLengthConstraint: 0 })
        {
            return $"the certificate of signing key {key} is not a CA certificate limited to issuing leaves (path length 0)";
        }
        if (issuer.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && !usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign))
        {
            return $"the certificate of signing key {key} may not sign certificates (key usage)";
        }
        if (!SignedBy(issuer, issuer.PublicKey))
        {
            return $"the certificate of signing key {key} is not signed by that key";
        }
        return DatesRefusal(issuer, $"the certificate of signing key {key}", now);
    }

    private static string? LeafRefusal(X509Certificate2 leaf, X509Certificate2 issuer, string key, DateTime now)
    {
        if (!leaf.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
        {
            return $"the certificate names issuer '{leaf.Issuer}', not the certificate of signing key {key}";
        }
        if (!SignedBy(leaf, issuer.PublicKey))
        {
            return $"the certificate's signature does not verify with signing key {key}";
        }
        if (leaf.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true })
        {
            return "the certificate is a CA certificate, not a server's";
        }
        var usages = leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault()?.EnhancedKeyUsages;
        if (usages is null || !usages.Cast<Oid>().Any(o => o.Value == ServerAuthenticationOid))
        {
            return "the certificate is not for TLS server authentication (extended key usage)";
        }
        if (leaf.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage && !usage.KeyUsages.HasFlag(X509KeyUsageFlags.DigitalSignature))
        {
            return "the certificate's key may not sign (key usage), as TLS needs";
        }
        return DatesRefusal(leaf, "the certificate", now);
    }

    private static string? DatesRefusal(X509Certificate2 certificate, string what, DateTime now)
    {
        var notBefore = certificate.NotBefore.ToUniversalTime();
        var notAfter = certificate.NotAfter.ToUniversalTime();
        var utc = now.Kind == DateTimeKind.Local ? now.ToUniversalTime() : now;
        return utc + SignedWork.ClockSkew < notBefore ? $"{what} is valid only from {notBefore:u}"
            : utc - SignedWork.ClockSkew > notAfter ? $"{what} expired at {notAfter:u}"
            : null;
    }

    /// <summary>
    /// Whether <paramref name="certificate"/>'s signature verifies with <paramref name="key"/> (ECDSA with SHA-256, -384 or
    /// -512, the algorithms a signing key signs with), read from the DER: the signed part, the algorithm (the same inside
    /// and outside the signed part), the signature.
    /// </summary>
    internal static bool SignedBy(X509Certificate2 certificate, PublicKey key)
    {
        try
        {
            var outer = new AsnReader(certificate.RawDataMemory, AsnEncodingRules.DER).ReadSequence();
            var signed = outer.ReadEncodedValue();
            var algorithm = outer.ReadEncodedValue();
            var signature = outer.ReadBitString(out var unusedBits);
            outer.ThrowIfNotEmpty();
            var tbs = new AsnReader(signed, AsnEncodingRules.DER).ReadSequence();
            if (tbs.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                tbs.ReadEncodedValue(); // version
            }
            tbs.ReadEncodedValue(); // serial number
            if (unusedBits != 0 || !tbs.ReadEncodedValue().Span.SequenceEqual(algorithm.Span))
            {
                return false;
            }
            var hash = new AsnReader(algorithm, AsnEncodingRules.DER).ReadSequence().ReadObjectIdentifier() switch
            {
                "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256,
                "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
                "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
                _ => default,
            };
            using var ecdsa = key.GetECDsaPublicKey();
            return hash != default && ecdsa is not null && ecdsa.VerifyData(signed.Span, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            return false;
        }
    }

    private static X500DistinguishedName KeyName(string what, string fingerprint)
    {
        var name = new X500DistinguishedNameBuilder();
        name.AddOrganizationName("JP1Dist");
        name.AddOrganizationalUnitName(fingerprint);
        name.AddCommonName($"{what} {fingerprint[..16]}");
        return name.Build();
    }

    /// <summary>A common name holds at most 64 characters (RFC 5280); host names may be longer.</summary>
    private static string CommonName(string name)
    {
        var trimmed = new string(name.Trim().Where(c => !char.IsControl(c)).ToArray());
        return trimmed.Length == 0 ? "relay" : trimmed.Length <= 64 ? trimmed : trimmed[..64];
    }

    private static byte[] Serial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive
        serial[0] |= 0x01; // and of full length
        return serial;
    }
}
