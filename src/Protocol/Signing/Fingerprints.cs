using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace JP1Dist.Protocol.Signing;

/// <summary>
/// The one way a key is named: the lowercase hex SHA-256 of its DER SubjectPublicKeyInfo. A certificate's pin is its
/// public key's fingerprint (what <c>openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum</c> prints),
/// so a certificate renewed on the same key keeps its pin; the manager's signing key is named the same way.
/// </summary>
public static class Fingerprints
{
    /// <summary>The fingerprint of a DER SubjectPublicKeyInfo.</summary>
    public static string OfPublicKey(ReadOnlySpan<byte> subjectPublicKeyInfo) => Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>The fingerprint of a base64 SubjectPublicKeyInfo (how the manager's signing key travels); null when it is not base64.</summary>
    public static string? OfPublicKey(string subjectPublicKeyInfoBase64)
    {
        try
        {
            return OfPublicKey(Convert.FromBase64String(subjectPublicKeyInfoBase64));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>A certificate's pin: the fingerprint of its public key.</summary>
    public static string OfCertificate(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return OfPublicKey(certificate.PublicKey.ExportSubjectPublicKeyInfo());
    }

    /// <summary>Whether the text is a fingerprint: 64 hex digits (either case).</summary>
    public static bool IsFingerprint(string? text) => ContentHash.IsHash(text);

    /// <summary>
    /// A pin as given by a person (either case, with or without colons or spaces between bytes) in its one canonical
    /// form, lowercase hex; null when it is not 32 bytes of hex.
    /// </summary>
    public static string? Normalize(string? text)
    {
        if (text is null)
        {
            return null;
        }
        var compact = new string(text.Where(c => c is not (':' or ' ' or '-')).ToArray()).Trim().ToLowerInvariant();
        return IsFingerprint(compact) ? compact : null;
    }

    /// <summary>Compares two fingerprints in constant time (after normalizing both).</summary>
    public static bool Same(string? left, string? right) =>
        Normalize(left) is { } a && Normalize(right) is { } b
        && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(a), System.Text.Encoding.ASCII.GetBytes(b));
}
