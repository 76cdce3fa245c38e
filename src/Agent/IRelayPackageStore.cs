using JP1Dist.Protocol;

namespace JP1Dist.Agent;

/// <summary>A relay's package cache as its own client role sees it: where a transfer-to-relay job puts the package.</summary>
public interface IRelayPackageStore
{
    /// <summary>
    /// Fetches every file of the package into the cache (each segment checked against the signed manifest) and keeps it
    /// until <paramref name="storeUntil"/> (UTC; null: until removed), replacing an earlier expiry.
    /// </summary>
    Task StoreAsync(PackageManifest manifest, string manifestJson, string manifestSignature, DateTime? storeUntil, CancellationToken cancellationToken);
}
