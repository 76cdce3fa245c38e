using System.Security.Cryptography;
using System.Text;

namespace JP1Dist.Protocol.Security;

/// <summary>
/// Random secrets (tokens, credentials) and the hashes under which they are stored. In the protocol because both ends make
/// them: the manager its tokens and credentials, a node the credential it asks its registration to give it.
/// </summary>
public static class Secrets
{
    /// <summary>The length of a secret's text: 32 bytes in URL-safe base64 without padding.</summary>
    public const int Length = 43;

    /// <summary>A new URL-safe secret of 32 random bytes.</summary>
    public static string NewSecret()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Whether <paramref name="text"/> has the form of a secret <see cref="NewSecret"/> makes (so a node cannot choose a short one).</summary>
    public static bool IsWellFormed(string? text) =>
        text is { Length: Length } && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>The stored form of a secret; the secret itself is never kept.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Compares a presented secret with a stored hash in constant time.</summary>
    public static bool Matches(string secret, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(storedHash));
}
