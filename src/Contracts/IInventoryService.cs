namespace JP1Dist.Contracts;

/// <summary>Hardware and software facts: Get-DistInventory.</summary>
public interface IInventoryService
{
    /// <summary>The facts of the hosts whose names match the pattern (every host when null).</summary>
    Task<IReadOnlyList<DistInventory>> ListAsync(string? hostPattern = null, CancellationToken cancellationToken = default);

    /// <summary>Installed software matching a name and version range such as <c>openssl&lt;3.0</c>, on the hosts whose names match.</summary>
    Task<IReadOnlyList<DistSoftware>> FindSoftwareAsync(string softwarePattern, string? hostPattern = null, CancellationToken cancellationToken = default);
}
