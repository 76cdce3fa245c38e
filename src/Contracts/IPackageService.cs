namespace JP1Dist.Contracts;

/// <summary>Packages: New-, Get-, Set- and Remove-DistPackage.</summary>
public interface IPackageService
{
    /// <summary>Registers a package: validates everything first, then stores its content and its signed manifest.</summary>
    Task<DistPackage> CreateAsync(NewPackageRequest request, IProgress<PackagingProgress>? progress, CancellationToken cancellationToken = default);

    /// <summary>The packages whose names match the pattern (wildcards; every package when null), optionally one version.</summary>
    Task<IReadOnlyList<DistPackage>> ListAsync(string? namePattern = null, string? version = null, CancellationToken cancellationToken = default);

    /// <summary>Changes until when relays keep the package (null: no expiry).</summary>
    Task<DistPackage> SetExpiryAsync(string name, string version, DateTime? expiresAt, CancellationToken cancellationToken = default);

    /// <summary>Removes a package; refused while an unfinished job uses it, unless forced.</summary>
    Task RemoveAsync(string name, string version, bool force, CancellationToken cancellationToken = default);
}
