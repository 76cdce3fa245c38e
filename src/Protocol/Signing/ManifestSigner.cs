using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace JP1Dist.Protocol.Signing;

/// <summary>
/// The manager's ECDSA P-256 key that signs every package manifest. Agents pin its public key at
/// enrollment and refuse any manifest it did not sign, whoever delivered it.
/// </summary>
public sealed class ManifestSigner : IDisposable
{
    private readonly ECDsa _key;

    private ManifestSigner(ECDsa key) => _key = key;

    /// <summary>The public key (SubjectPublicKeyInfo, base64) that agents pin.</summary>
    public string PublicKey => Convert.ToBase64String(_key.ExportSubjectPublicKeyInfo());

    /// <summary>Loads the key from the keys folder, creating it the first time; concurrent first uses agree on one key.</summary>
    public static ManifestSigner LoadOrCreate(string keysFolder)
    {
        Directory.CreateDirectory(keysFolder);
        var path = Path.Combine(keysFolder, "manifest-signing.pem");
        if (!File.Exists(path))
        {
            using var fresh = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var temporary = path + "." + Guid.NewGuid().ToString("N");
            File.WriteAllText(temporary, fresh.ExportPkcs8PrivateKeyPem());
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException)
            {
                // Someone else created the key first; use theirs.
                File.Delete(temporary);
            }
        }
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(path));
        return new ManifestSigner(key);
    }

    /// <summary>
    /// Signs certificates with this key: the certificate of the key itself and the relays' TLS certificates it issues
    /// (<see cref="Tls.RelayCertificates"/>, the only caller). The key never leaves this object.
    /// </summary>
    internal X509SignatureGenerator CertificateSignatureGenerator() => X509SignatureGenerator.CreateForECDsa(_key);

    /// <summary>Signs the UTF-8 bytes of the manifest text; the signature is base64.</summary>
    public string Sign(string manifest) =>
        Convert.ToBase64String(_key.SignData(Encoding.UTF8.GetBytes(manifest), HashAlgorithmName.SHA256));

    /// <summary>Checks a manifest against a pinned public key.</summary>
    public static bool Verify(string publicKey, string manifest, string signature)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(Convert.FromBase64String(publicKey), out _);
            return key.VerifyData(Encoding.UTF8.GetBytes(manifest), Convert.FromBase64String(signature), HashAlgorithmName.SHA256);
        }
        catch (FormatException)
        {
            return false;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    public void Dispose() => _key.Dispose();
}
