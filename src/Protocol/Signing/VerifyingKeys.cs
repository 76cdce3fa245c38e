using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace JP1Dist.Protocol.Signing;

/// <summary>
/// Public keys imported once and lent out for a check, for <see cref="ManifestSigner.Verify"/>: a node checks every
/// manifest, job setting and power order against the same one or two pinned keys, and importing a key (OpenSSL builds and
/// checks the curve point) costs about as much as the check itself. Each imported key is used by one thread at a time
/// (a lent key is taken out of its pool). Bounded: at most <see cref="MaxKeys"/> distinct keys and
/// <see cref="MaxPooledPerKey"/> idle copies of each are kept; beyond that a key is imported for the one check and disposed.
/// </summary>
internal static class VerifyingKeys
{
    /// <summary>The most distinct keys kept: a node trusts its manager's key and, during a rotation, the key before it.</summary>
    internal const int MaxKeys = 16;

    /// <summary>The most idle copies of one key kept, enough for every core checking at once.</summary>
    internal static readonly int MaxPooledPerKey = Math.Max(2, Environment.ProcessorCount);

    private static readonly ConcurrentDictionary<string, ConcurrentQueue<ECDsa>> Pools = new(StringComparer.Ordinal);
    private static readonly Lock Adding = new();

    /// <summary>
    /// A key imported from <paramref name="publicKey"/> (SubjectPublicKeyInfo, base64), for one thread until it is given back
    /// with <see cref="Return"/>. Throws <see cref="FormatException"/> or <see cref="CryptographicException"/> for a value
    /// that is not a public key; nothing is kept for it.
    /// </summary>
    public static ECDsa Rent(string publicKey)
    {
        if (Pools.TryGetValue(publicKey, out var pool) && pool.TryDequeue(out var key))
        {
            return key;
        }
        var imported = ECDsa.Create();
        try
        {
            imported.ImportSubjectPublicKeyInfo(Convert.FromBase64String(publicKey), out _);
            return imported;
        }
        catch
        {
            imported.Dispose();
            throw;
        }
    }

    /// <summary>Gives back a key <see cref="Rent"/> lent for <paramref name="publicKey"/>: kept for the next check, or disposed when the pools are full.</summary>
    public static void Return(string publicKey, ECDsa key)
    {
        if (!Pools.TryGetValue(publicKey, out var pool))
        {
            lock (Adding)
            {
                if (!Pools.TryGetValue(publicKey, out pool) && Pools.Count < MaxKeys)
                {
                    pool = new ConcurrentQueue<ECDsa>();
                    Pools[publicKey] = pool;
                }
            }
        }
        // (two threads giving back at once may both find room: a pool holds at most a copy more per thread)
        if (pool is not null && pool.Count < MaxPooledPerKey)
        {
            pool.Enqueue(key);
        }
        else
        {
            key.Dispose();
        }
    }

    /// <summary>How many distinct keys are kept now (tests).</summary>
    internal static int Count => Pools.Count;

    /// <summary>Whether copies of <paramref name="publicKey"/> are kept (tests).</summary>
    internal static bool Holds(string publicKey) => Pools.ContainsKey(publicKey);
}
