namespace JP1Dist.Contracts;

/// <summary>Host groups: New-, Get-, Remove-DistHostGroup, Add- and Remove-DistHostGroupMember.</summary>
public interface IHostGroupService
{
    Task<DistHostGroup> CreateAsync(string name, string? description, CancellationToken cancellationToken = default);

    /// <summary>The host groups whose names match the pattern (every group when null).</summary>
    Task<IReadOnlyList<DistHostGroup>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default);

    /// <summary>Puts hosts and nested groups in a group; nesting that would make a cycle is refused.</summary>
    Task<DistHostGroup> AddMembersAsync(string groupName, IReadOnlyCollection<string>? hostNames, IReadOnlyCollection<string>? groupNames, CancellationToken cancellationToken = default);

    Task<DistHostGroup> RemoveMembersAsync(string groupName, IReadOnlyCollection<string>? hostNames, IReadOnlyCollection<string>? groupNames, CancellationToken cancellationToken = default);

    /// <summary>Removes a group; refused while a job names it.</summary>
    Task RemoveAsync(string groupName, CancellationToken cancellationToken = default);
}
