using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using JP1Dist.Protocol.Security;

namespace JP1Dist.Protocol.Signing;

/// <summary>
/// The manager's ECDSA P-256 key that signs every package manifest. Agents pin its public key at
/// enrollment and refuse any manifest it did not sign, whoever delivered it. One signer signs from several threads at
/// once (the manager's concurrent requests, an execution's settings over every core): each signature is one call on the
/// platform's key handle (OpenSSL, CNG) that keeps nothing of the call before.
/// </summary>
public sealed class ManifestSigner : IDisposable
{
    private readonly ECDsa _key;

    private string? _publicKey;

    private ManifestSigner(ECDsa key) => _key = key;

    /// <summary>The public key (SubjectPublicKeyInfo, base64) that agents pin; exported once (every registration's answer carries it).</summary>
    public string PublicKey => _publicKey ??= Convert.ToBase64String(_key.ExportSubjectPublicKeyInfo());

    /// <summary>The key's fingerprint (<see cref="Fingerprints.OfPublicKey(ReadOnlySpan{byte})"/>), what enrollment tokens carry.</summary>
    public string Fingerprint => Fingerprints.OfPublicKey(_key.ExportSubjectPublicKeyInfo());

    /// <summary>The file name of a key made by a rotation: its fingerprint names it, so a file names the key it holds.</summary>
    public static string FileNameOf(string fingerprint) => $"signing-{fingerprint}.pem";

    /// <summary>
    /// Creates a new key in an owner-only file in <paramref name="keysFolder"/>, written in full and flushed to disk before
    /// it is named <see cref="FileNameOf"/> (so a file by that name always holds a whole key); returns the key and its file name.
    /// </summary>
    public static (ManifestSigner Signer, string FileName) CreateFile(string keysFolder)
    {
        Directory.CreateDirectory(keysFolder);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signer = new ManifestSigner(key);
        var fileName = FileNameOf(signer.Fingerprint);
        OwnerOnlyFiles.WriteText(Path.Combine(keysFolder, fileName), key.ExportPkcs8PrivateKeyPem(), overwrite: false);
        return (signer, fileName);
    }

    /// <summary>Loads a key file; an IOException or CryptographicException when it is missing or not a key.</summary>
    public static ManifestSigner Load(string path)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
        }
        catch (ArgumentException e)
        {
            key.Dispose();
            throw new CryptographicException($"'{path}' holds no private key in PEM form ({e.Message}).", e);
        }
        catch
        {
            key.Dispose();
            throw;
        }
        return new ManifestSigner(key);
    }

    /// <summary>Loads the key from the keys folder, creating it the first time; concurrent first uses agree on one key.</summary>
    public static ManifestSigner LoadOrCreate(string keysFolder)
    {
        Directory.CreateDirectory(keysFolder);
        var path = Path.Combine(keysFolder, "manifest-signing.pem");
        if (!File.Exists(path))
        {
            using var fresh = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            // Owner-only from its creation; when someone else created the key first, theirs is kept and used.
            OwnerOnlyFiles.WriteText(path, fresh.ExportPkcs8PrivateKeyPem(), overwrite: false);
        }
        return Load(path);
    }

    /// <summary>
    /// Signs certificates with this key: the certificate of the key itself and the relays' TLS certificates it issues
    /// (<see cref="Tls.RelayCertificates"/>, the only caller). The key never leaves this object.
    /// </summary>
    internal X509SignatureGenerator CertificateSignatureGenerator() => X509SignatureGenerator.CreateForECDsa(_key);

    /// <summary>Signs the UTF-8 bytes of the manifest text; the signature is base64.</summary>
    public string Sign(string manifest) =>
        Convert.ToBase64String(_key.SignData(Encoding.UTF8.GetBytes(manifest), HashAlgorithmName.SHA256));

    /// <summary>
    /// Announces <paramref name="newPublicKey"/> as this key's successor, this key retiring at
    /// <paramref name="retiresAt"/>: the announcement nodes that trust this key accept (<see cref="SigningKeyChain"/>).
    /// </summary>
    public SigningKeyAnnouncement Announce(string newPublicKey, DateTime retiresAt)
    {
        var at = SigningKeyAnnouncement.Utc(retiresAt);
        return new SigningKeyAnnouncement(PublicKey, newPublicKey, at, Sign(SigningKeyAnnouncement.SignedText(PublicKey, newPublicKey, at)));
    }

    /// <summary>
    /// Checks a manifest (or any text the manager signs) against a pinned public key. The key is imported once and kept for
    /// the next check (<see cref="VerifyingKeys"/>); a key or signature that is not well formed fails the check.
    /// </summary>
    public static bool Verify(string publicKey, string manifest, string signature)
    {
        try
        {
            return VerifyingKeys.Verify(publicKey, Encoding.UTF8.GetBytes(manifest), Convert.FromBase64String(signature));
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return false;
        }
    }

    public void Dispose() => _key.Dispose();
}
