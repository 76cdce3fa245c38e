namespace JP1Dist.Contracts;

/// <summary>Access keys, with which a session elsewhere acts on the manager in one role: New-, Get- and Remove-DistAccessKey.</summary>
public interface IAccessKeyService
{
    /// <summary>
    /// Creates an access key. Its text is in the result's Key once; the manager keeps only a hash of its secret.
    /// AccessKeyNameInvalid, AccessKeyExpiryInvalid or AccessKeyRoleInvalid for bad input, AccessKeyAlreadyExists when a
    /// key that is not removed has the name.
    /// </summary>
    Task<DistAccessKey> CreateAsync(NewAccessKeyRequest request, CancellationToken cancellationToken = default);

    /// <summary>The access keys (not removed) whose names match the pattern (wildcards; every key when null), by name, without their text.</summary>
    Task<IReadOnlyList<DistAccessKey>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default);

    /// <summary>Removes an access key: it is refused from this moment (AccessKeyRemoved). AccessKeyNotFound for a name no key has.</summary>
    Task RemoveAsync(string name, CancellationToken cancellationToken = default);
}

/// <summary>What New-DistAccessKey asks for: a named key with one role, valid for <see cref="ExpiresIn"/> from now (null: no expiry).</summary>
public sealed record NewAccessKeyRequest(string Name, DistRole Role, TimeSpan? ExpiresIn = null, string? Description = null)
{
    /// <summary>The longest an access key may be valid for: two years.</summary>
    public static readonly TimeSpan MaxExpiresIn = TimeSpan.FromDays(730);
}

/// <summary>
/// An access key. Key (the text a session presents: <c>jp1key.KEYID.SECRET</c>) is shown once, when the key is created;
/// listings show everything else. Status is Active or Expired (a removed key is not listed). CreatedBy is the principal that
/// created it; LastUsedAt is when the manager last accepted it (to the minute).
/// </summary>
public sealed record DistAccessKey(
    string Name,
    DistRole Role,
    string? Key,
    string KeyId,
    string? Description,
    DateTime CreatedAt,
    string CreatedBy,
    DateTime? ExpiresAt,
    DateTime? LastUsedAt,
    string Status);
