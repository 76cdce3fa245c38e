namespace JP1Dist.Contracts;

/// <summary>The manager's signing keys: Get-DistSigningKey and Update-DistSigningKey.</summary>
public interface ISigningKeyService
{
    /// <summary>The grace period of a rotation when none is given: the old key stays trusted this long.</summary>
    static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromDays(14);

    /// <summary>The longest grace period a rotation accepts.</summary>
    static readonly TimeSpan MaxGracePeriod = TimeSpan.FromDays(365);

    /// <summary>Every signing key this data folder's manager has had, the current one first, then older ones newest first.</summary>
    Task<IReadOnlyList<DistSigningKey>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates a new signing key and makes it the one that signs from now on; the current key is announced as replaced
    /// (the announcement signed by it) and stays trusted by agents and relays for <paramref name="gracePeriod"/>.
    /// SigningKeyGraceInvalid for a grace period of zero or less, or longer than <see cref="MaxGracePeriod"/>;
    /// SigningKeyRotationConflict when another process replaced the key at the same moment (nothing changed here).
    /// Returns the keys as <see cref="ListAsync"/> does.
    /// </summary>
    Task<IReadOnlyList<DistSigningKey>> RotateAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default);
}

/// <summary>The state of a signing key: the one that signs, one still trusted until it retires, or one trusted no more.</summary>
public enum SigningKeyState
{
    Current,
    Retiring,
    Retired,
}

/// <summary>
/// A signing key of the manager: its fingerprint (the SHA-256 of its public key, 64 hex digits, what enrollment tokens
/// carry), when it was created, its state, when it retires (null for the current key; local time), the key that replaced
/// it, and the file in the data folder's keys folder that holds it.
/// </summary>
public sealed record DistSigningKey(string Fingerprint, SigningKeyState State, DateTime CreatedAt, DateTime? RetiresAt, string? ReplacedBy, string File)
{
    /// <summary>The state as a person reads it: Current, "Retiring until (time)", or Retired.</summary>
    public string Status => State switch
    {
        SigningKeyState.Retiring => $"Retiring until {RetiresAt:yyyy-MM-dd HH:mm:ss}",
        SigningKeyState.Retired => $"Retired {RetiresAt:yyyy-MM-dd HH:mm:ss}",
        _ => "Current",
    };
}
