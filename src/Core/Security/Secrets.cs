using System.Security.Cryptography;
using System.Text;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Core.Security;

/// <summary>Random secrets (tokens, credentials) and the hashes under which they are stored.</summary>
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
