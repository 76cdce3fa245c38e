using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace JP1Dist.Protocol.Signing;

/// <summary>
/// ECDSA signature checks with each public key imported once and kept, for <see cref="ManifestSigner.Verify"/>: a node
/// checks every manifest, job setting and power order against the same one or two pinned keys, and importing a key
/// (OpenSSL builds and checks the curve point) costs about as much as the check itself. A kept key is used by one thread
/// at a time (taken out of its pool for the check). Keys are kept by their bytes, not by how their base64 was written,
/// and within bounds: at most <see cref="MaxKeys"/> distinct keys and <see cref="MaxPooledPerKey"/> idle copies of each;
/// beyond that a key is imported for the one check and disposed. A value that is not a public key is never kept.
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
    /// Whether <paramref name="signature"/> is <paramref name="publicKey"/>'s (SubjectPublicKeyInfo, base64) over
    /// <paramref name="data"/> with SHA-256. Throws <see cref="FormatException"/> or <see cref="CryptographicException"/>
    /// for a key that is not a public key.
    /// </summary>
    public static bool Verify(string publicKey, byte[] data, byte[] signature)
    {
        var keyBytes = Convert.FromBase64String(publicKey);
        var name = NameOf(keyBytes);
        var key = Rent(name, keyBytes);
        try
        {
            return key.VerifyData(data, signature, HashAlgorithmName.SHA256);
        }
        finally
        {
            Return(name, key);
        }
    }

    /// <summary>The name a key is kept under: the canonical base64 of its bytes, one name however its base64 was written.</summary>
    private static string NameOf(byte[] keyBytes) => Convert.ToBase64String(keyBytes);

    private static ECDsa Rent(string name, byte[] keyBytes)
    {
        if (Pools.TryGetValue(name, out var pool) && pool.TryDequeue(out var kept))
        {
            return kept;
        }
        var imported = ECDsa.Create();
        try
        {
            imported.ImportSubjectPublicKeyInfo(keyBytes, out _);
            return imported;
        }
        catch
        {
            imported.Dispose();
            throw;
        }
    }

    private static void Return(string name, ECDsa key)
    {
        if (!Pools.TryGetValue(name, out var pool))
        {
            lock (Adding)
            {
                if (!Pools.TryGetValue(name, out pool) && Pools.Count < MaxKeys)
                {
                    pool = new ConcurrentQueue<ECDsa>();
                    Pools[name] = pool;
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

    /// <summary>The names the kept keys are kept under (tests).</summary>
    internal static IReadOnlyCollection<string> Names => [.. Pools.Keys];

    /// <summary>Whether copies of the key <paramref name="publicKey"/> writes are kept (tests).</summary>
    internal static bool Holds(string publicKey)
    {
        try
        {
            return Pools.ContainsKey(NameOf(Convert.FromBase64String(publicKey)));
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
