using JP1Dist.Protocol.Signing;

namespace JP1Dist.Protocol;

/// <summary>
/// What an enrollment token carries, as one string an administrator pastes into a startup script:
/// <c>SECRET.SIGNINGKEY[.PIN]</c>: the secret the manager checks (URL-safe base64), the fingerprint of the manager's
/// signing key (the agent refuses any other key in the registration answer), and, for a manager that serves HTTPS, the
/// pin of its certificate (the agent refuses any other certificate before it sends anything). A bare secret (tokens made
/// before fingerprints existed) carries no trust of its own: the agent then needs <c>--certificate-pin</c> or a
/// certificate its operating system trusts, and learns the signing key from the registration answer.
/// </summary>
public sealed record EnrollmentTokenText(string Secret, string? SigningKeyFingerprint, string? CertificatePin)
{
    /// <summary>The most characters a token may have (a secret and two fingerprints, with room to spare).</summary>
    public const int MaxLength = 512;

    /// <summary>The token's text.</summary>
    public override string ToString() =>
        SigningKeyFingerprint is null ? Secret
        : CertificatePin is null ? $"{Secret}.{SigningKeyFingerprint}"
        : $"{Secret}.{SigningKeyFingerprint}.{CertificatePin}";

    /// <summary>Reads a token; null when it is not one (empty, too long, a fingerprint that is not 64 hex digits, stray parts).</summary>
    public static EnrollmentTokenText? TryParse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > MaxLength)
        {
            return null;
        }
        var parts = text.Trim().Split('.');
        if (parts.Length > 3 || parts[0].Length == 0 || !parts[0].All(IsSecretChar))
        {
            return null;
        }
        var key = parts.Length > 1 ? Fingerprints.Normalize(parts[1]) : null;
        var pin = parts.Length > 2 ? Fingerprints.Normalize(parts[2]) : null;
        if ((parts.Length > 1 && key is null) || (parts.Length > 2 && pin is null))
        {
            return null;
        }
        return new EnrollmentTokenText(parts[0], key, pin);
    }

    private static bool IsSecretChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';
}
