using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Server.Serving;

/// <summary>How a serving node (manager, relay) secures its listener: its certificate, and whether plain HTTP may leave loopback.</summary>
public sealed class NodeTlsOptions
{
    /// <summary>The environment variable that carries the certificate's password (arguments are visible to other users).</summary>
    public const string PasswordVariable = Protocol.Tls.PlainHttp.CertificatePasswordVariable;

    /// <summary>An administrator's certificate (--certificate): PFX/PKCS#12, or PEM with the key in it or in <see cref="KeyPath"/>. Null: the node's own.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="CertificatePath"/> when it is not in the same file (--certificate-key).</summary>
    public string? KeyPath { get; set; }

    /// <summary>The password of the PFX or of an encrypted PEM key (--certificate-password, or JP1DIST_CERTIFICATE_PASSWORD).</summary>
    public string? Password { get; set; }

    /// <summary>Whether plain http:// may listen, or connect upward, beyond loopback (--allow-insecure-http; logged as a warning).</summary>
    public bool AllowInsecureHttp { get; set; }
}

/// <summary>
/// The certificate a node serves HTTPS with, and its pin; both null when it serves plain HTTP. A relay may switch, while it
/// runs, to a certificate issued by the manager for the same key (<see cref="ServeIssued"/>): new connections get it with
/// its issuer in the chain, open ones keep theirs, and the pin stays (the key is the same).
/// </summary>
public sealed class ServedCertificate(X509Certificate2? certificate)
{
    private volatile IssuedServing? _issued;

    /// <summary>The certificate the node started with (its own or the administrator's), with its private key, or null.</summary>
    public X509Certificate2? Certificate { get; } = certificate;

    /// <summary>Its pin (<see cref="Fingerprints.OfCertificate"/>): what agents are told to expect.</summary>
    public string? Pin { get; } = certificate is null ? null : Fingerprints.OfCertificate(certificate);

    /// <summary>The issued certificate served now (without its key), or null while the node serves <see cref="Certificate"/>.</summary>
    public X509Certificate2? Issued => _issued?.Certificate;

    /// <summary>The issuer certificate sent with <see cref="Issued"/>, or null.</summary>
    public X509Certificate2? Issuer => _issued?.Issuer;

    /// <summary>What new TLS connections are served with when it is not <see cref="Certificate"/> alone: the issued certificate and its chain.</summary>
    public SslStreamCertificateContext? Context => _issued?.Context;

    /// <summary>
    /// Serves <paramref name="issued"/> (with the private key of <see cref="Certificate"/>, whose public key it must carry)
    /// and <paramref name="issuer"/> in its chain from the next connection on.
    /// </summary>
    public void ServeIssued(X509Certificate2 issued, X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(issued);
        ArgumentNullException.ThrowIfNull(issuer);
        if (Certificate is null || !Fingerprints.Same(Fingerprints.OfCertificate(issued), Pin))
        {
            throw new ArgumentException("The issued certificate is not for this node's key.", nameof(issued));
        }
        using var key = Certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("This node's key is not an ECDSA key.", nameof(issued));
        var withKey = NodeCertificate.ForServer(issued.CopyWithPrivateKey(key));
        _issued = new IssuedServing(issued, issuer, SslStreamCertificateContext.Create(withKey, [issuer], offline: true));
    }

    private sealed record IssuedServing(X509Certificate2 Certificate, X509Certificate2 Issuer, SslStreamCertificateContext Context);
}

/// <summary>
/// Where a node's TLS certificate comes from: the administrator's (--certificate), or one the node creates in its own folder
/// on first start: ECDSA P-256, named for the listen host, the computer and (when it listens there) localhost and 127.0.0.1.
/// The certificate and its key are one owner-only file, <see cref="FileName"/>, so a concurrent first start agrees on one
/// key (written to a temporary file and moved into place without overwriting, as the signing key is); the certificate alone
/// is <see cref="CertificateFileName"/>, for people and tools. The pin is the key's, so a certificate reissued on the same
/// key (another listen name, close to its expiry) keeps it.
/// </summary>
public static class NodeCertificate
{
    /// <summary>The node's own certificate and private key (PEM, owner-only).</summary>
    public const string FileName = "tls.pem";

    /// <summary>The node's own certificate without its key (PEM).</summary>
    public const string CertificateFileName = "tls.crt";

    /// <summary>A relay's certificate issued by the manager for the key in <see cref="FileName"/>, then the issuer certificate (PEM, no key).</summary>
    public const string IssuedFileName = "tls-issued.crt";

    private static readonly TimeSpan Validity = TimeSpan.FromDays(3650);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>The certificate to serve <paramref name="listenUrl"/> with: the administrator's, else the node's own in <paramref name="folder"/>.</summary>
    public static X509Certificate2 Load(NodeTlsOptions options, string folder, Uri listenUrl, string role)
    {
        if (options.CertificatePath is { Length: > 0 } path)
        {
            return ForServer(LoadProvided(path, options.KeyPath, options.Password));
        }
        try
        {
            return ForServer(LoadOrCreate(folder, listenUrl, role));
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            var own = Path.Combine(folder, FileName);
            throw new DistException("CertificateInvalid", DistErrorKind.InvalidArgument,
                $"The {role}'s own certificate '{own}' cannot be read or created: {e.Message} Restore it from a backup (agents are pinned to "
                + "its key), or remove it to create a new one and give agents the new pin.", own, e);
        }
    }

    /// <summary>Reads an administrator's certificate; CertificateInvalid when it cannot be used.</summary>
    public static X509Certificate2 LoadProvided(string path, string? keyPath, string? password)
    {
        X509Certificate2 certificate;
        try
        {
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"'{path}' does not exist.", path);
            }
            if (keyPath is not null && !File.Exists(keyPath))
            {
                throw new FileNotFoundException($"'{keyPath}' does not exist.", keyPath);
            }
            var pem = keyPath is not null || File.ReadAllText(path).Contains("-----BEGIN", StringComparison.Ordinal);
            certificate = !pem ? X509CertificateLoader.LoadPkcs12FromFile(path, password)
                : password is { Length: > 0 } ? X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath)
                : X509Certificate2.CreateFromPemFile(path, keyPath);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new DistException("CertificateInvalid", DistErrorKind.InvalidArgument,
                $"The certificate '{path}' cannot be used: {e.Message} Give a PFX (with --certificate-password or {NodeTlsOptions.PasswordVariable} "
                + "when it has one), or a PEM certificate with its private key in the same file or in --certificate-key.", path, e);
        }
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new DistException("CertificateInvalid", DistErrorKind.InvalidArgument,
                $"The certificate '{path}' comes without its private key; give the key in the same file, in --certificate-key, or as a PFX.", path);
        }
        return certificate;
    }

    /// <summary>
    /// The node's own certificate in <paramref name="folder"/>, created on first use; reissued on the same key when it does
    /// not name <paramref name="listenUrl"/>'s host or expires within 30 days. Its key file is narrowed to the owner if needed.
    /// </summary>
    public static X509Certificate2 LoadOrCreate(string folder, Uri listenUrl, string role)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName);
        OwnerOnlyFiles.Tighten(path);
        var names = NamesFor(listenUrl);
        if (!File.Exists(path))
        {
            using var fresh = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            using var issued = Issue(fresh, names, role);
            // Someone else's first start may have won the race: then theirs is the certificate, and the read below gets it.
            OwnerOnlyFiles.WriteText(path, Pem(issued, fresh), overwrite: false);
        }
        var certificate = X509Certificate2.CreateFromPemFile(path);
        var (dns, addresses) = NamesIn(certificate);
        var missing = names.Dns.Except(dns, StringComparer.OrdinalIgnoreCase).Any() || names.Addresses.Except(addresses).Any();
        // A key that is not ECDSA was put there by hand: served as it is.
        using var key = certificate.GetECDsaPrivateKey();
        if (key is not null && (missing || certificate.NotAfter.ToUniversalTime() - DateTime.UtcNow < RenewBefore))
        {
            var all = (Dns: dns.Union(names.Dns, StringComparer.OrdinalIgnoreCase).ToList(), Addresses: addresses.Union(names.Addresses).ToList());
            using var reissued = Issue(key, all, role);
            OwnerOnlyFiles.WriteText(path, Pem(reissued, key), overwrite: true);
            certificate.Dispose();
            certificate = X509Certificate2.CreateFromPemFile(path);
        }
        var publicPath = Path.Combine(folder, CertificateFileName);
        var publicPem = certificate.ExportCertificatePem() + "\n";
        if (!File.Exists(publicPath) || File.ReadAllText(publicPath) != publicPem)
        {
            var temporary = publicPath + "." + Guid.NewGuid().ToString("N")[..12] + ".tmp";
            File.WriteAllText(temporary, publicPem);
            File.Move(temporary, publicPath, overwrite: true);
        }
        return certificate;
    }

    /// <summary>
    /// The certificate issued for this node's key and its issuer, as <see cref="SaveIssued"/> left them in
    /// <paramref name="folder"/>; null when there is none, or it is unreadable or for another key (the key was replaced).
    /// </summary>
    public static (X509Certificate2 Certificate, X509Certificate2 Issuer)? LoadIssued(string folder, string pin)
    {
        var path = Path.Combine(folder, IssuedFileName);
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }
            var pems = new X509Certificate2Collection();
            pems.ImportFromPemFile(path);
            if (pems.Count == 2 && Fingerprints.Same(Fingerprints.OfCertificate(pems[0]), pin))
            {
                return (pems[0], pems[1]);
            }
            foreach (var certificate in pems)
            {
                certificate.Dispose();
            }
            return null;
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Keeps an issued certificate and its issuer in <paramref name="folder"/> (written whole, then moved into place).</summary>
    public static void SaveIssued(string folder, X509Certificate2 certificate, X509Certificate2 issuer)
    {
        var path = Path.Combine(folder, IssuedFileName);
        var temporary = path + "." + Guid.NewGuid().ToString("N")[..12] + ".tmp";
        File.WriteAllText(temporary, certificate.ExportCertificatePem() + "\n" + issuer.ExportCertificatePem() + "\n");
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// The names a certificate for <paramref name="listenUrl"/> carries: its host (unless a wildcard address), the computer's
    /// name, and localhost, 127.0.0.1 and ::1 when the node listens on loopback or on every address.
    /// </summary>
    public static (List<string> Dns, List<IPAddress> Addresses) NamesFor(Uri listenUrl)
    {
        var dns = new List<string> { Environment.MachineName };
        var addresses = new List<IPAddress>();
        var host = listenUrl.IdnHost.Trim('[', ']');
        var wildcard = host is "0.0.0.0" or "::" or "*" or "+";
        if (IPAddress.TryParse(host, out var address))
        {
            if (!wildcard)
            {
                addresses.Add(address);
            }
        }
        else if (!wildcard)
        {
            dns.Add(host);
        }
        if (wildcard || listenUrl.IsLoopback)
        {
            dns.Add("localhost");
            addresses.Add(IPAddress.Loopback);
            addresses.Add(IPAddress.IPv6Loopback);
        }
        return (dns.Distinct(StringComparer.OrdinalIgnoreCase).ToList(), addresses.Distinct().ToList());
    }

    private static (List<string> Dns, List<IPAddress> Addresses) NamesIn(X509Certificate2 certificate)
    {
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        return san is null ? ([], []) : (san.EnumerateDnsNames().ToList(), san.EnumerateIPAddresses().ToList());
    }

    private static X509Certificate2 Issue(ECDsa key, (List<string> Dns, List<IPAddress> Addresses) names, string role)
    {
        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName("JP1Dist");
        subject.AddOrganizationalUnitName(role);
        subject.AddCommonName(Environment.MachineName);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        names.Dns.ForEach(san.AddDnsName);
        names.Addresses.ForEach(san.AddIpAddress);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddHours(-1), now + Validity);
    }

    private static string Pem(X509Certificate2 certificate, ECDsa key) =>
        certificate.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem() + "\n";

    /// <summary>
    /// A certificate Kestrel can serve on every platform: on Windows, the TLS stack needs the key in a key set, which a
    /// PEM-loaded (ephemeral) key is not, so it goes through PKCS#12 once.
    /// </summary>
    internal static X509Certificate2 ForServer(X509Certificate2 certificate)
    {
        if (!OperatingSystem.IsWindows())
        {
            return certificate;
        }
        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }
    }
}
