namespace JP1Dist.Contracts;

/// <summary>ID groups and their policies: New-, Get-, Remove-DistIdGroup, Add-, Remove-DistIdGroupMember, Set- and Get-DistIdGroupPolicy.</summary>
public interface IIdGroupService
{
    Task<DistIdGroup> CreateAsync(string name, string? description, CancellationToken cancellationToken = default);

    /// <summary>The ID groups whose names match the pattern (every group when null).</summary>
    Task<IReadOnlyList<DistIdGroup>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default);

    /// <summary>Adds hosts by hand; they stay until removed by hand, and get the group's executed jobs.</summary>
    Task<DistIdGroup> AddMembersAsync(string groupName, IReadOnlyCollection<string> hostNames, CancellationToken cancellationToken = default);

    Task<DistIdGroup> RemoveMembersAsync(string groupName, IReadOnlyCollection<string> hostNames, CancellationToken cancellationToken = default);

    /// <summary>Removes a group; refused while a job names it.</summary>
    Task RemoveAsync(string groupName, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the group's policy with these rules (fact name to patterns; none clears it) and evaluates it for every
    /// host at once. A bad rule is refused, naming it, and changes nothing.
    /// </summary>
    Task<DistIdGroupPolicy> SetPolicyAsync(string groupName, IReadOnlyList<IReadOnlyDictionary<string, IReadOnlyList<string>>> rules, CancellationToken cancellationToken = default);

    /// <summary>The policies of the ID groups whose names match the pattern.</summary>
    Task<IReadOnlyList<DistIdGroupPolicy>> GetPoliciesAsync(string? namePattern = null, CancellationToken cancellationToken = default);
}
