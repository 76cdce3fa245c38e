namespace JP1Dist.Contracts;

/// <summary>Hosts and how they are admitted: New-DistEnrollmentToken, Get-DistHost and Remove-DistHost.</summary>
public interface IHostService
{
    /// <summary>Creates an enrollment token; its secret is in the result once and is kept only as a hash.</summary>
    Task<DistEnrollmentToken> NewEnrollmentTokenAsync(string? description, CancellationToken cancellationToken = default);

    /// <summary>The hosts the query selects, in tree order under their relays.</summary>
    Task<IReadOnlyList<DistHost>> ListAsync(HostQuery query, CancellationToken cancellationToken = default);

    /// <summary>Forgets a host; refused while it has unfinished targets or lower hosts, unless forced.</summary>
    Task RemoveAsync(string name, bool force, CancellationToken cancellationToken = default);
}
