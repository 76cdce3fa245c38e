using System.Security.Cryptography;
using System.Text;

namespace JP1Dist.Protocol.Security;

/// <summary>
/// Random secrets (tokens, credentials) and the hashes under which they are stored. In the protocol because both ends make
/// them: the manager its tokens and credentials, a node the credential it asks its registration to give it.
/// </summary>
public static class Secrets
{
    /// <summary>A new URL-safe secret of 32 random bytes.</summary>
    public static string NewSecret()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>The stored form of a secret; the secret itself is never kept.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Compares a presented secret with a stored hash in constant time.</summary>
    public static bool Matches(string secret, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(storedHash));
}
