namespace JP1Dist.Contracts;

/// <summary>Hosts and how they are admitted: New-, Get- and Remove-DistEnrollmentToken, Get-DistHost and Remove-DistHost; Start-DistHost wakes them.</summary>
public interface IHostService
{
    /// <summary>Creates an enrollment token for clients, with no expiry or use limit; see the overload taking a request.</summary>
    Task<DistEnrollmentToken> NewEnrollmentTokenAsync(string? description, CancellationToken cancellationToken = default) =>
        NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest(description), cancellationToken);

    /// <summary>
    /// Creates an enrollment token; its text (secret, the signing key's fingerprint and the manager's certificate pin) is
    /// in the result once, and only the secret's hash is kept.
    /// </summary>
    Task<DistEnrollmentToken> NewEnrollmentTokenAsync(NewEnrollmentTokenRequest request, CancellationToken cancellationToken = default);

    /// <summary>Every enrollment token, newest first, without its secret.</summary>
    Task<IReadOnlyList<DistEnrollmentToken>> ListEnrollmentTokensAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes an enrollment token: it admits nothing from then on (hosts it admitted stay enrolled). EnrollmentTokenNotFound for an unknown id.</summary>
    Task RemoveEnrollmentTokenAsync(int id, CancellationToken cancellationToken = default);

    /// <summary>The hosts the query selects, in tree order under their relays.</summary>
    Task<IReadOnlyList<DistHost>> ListAsync(HostQuery query, CancellationToken cancellationToken = default);

    /// <summary>Forgets a host; refused while it has unfinished targets or lower hosts, unless forced.</summary>
    Task RemoveAsync(string name, bool force, CancellationToken cancellationToken = default) => RemoveAsync(name, force, revoke: false, cancellationToken);

    /// <summary>
    /// Forgets a host; with <paramref name="revoke"/> its credential is revoked too: the manager and every relay refuse it
    /// from then on (CredentialRevoked), and registering again with it is refused.
    /// </summary>
    Task RemoveAsync(string name, bool force, bool revoke, CancellationToken cancellationToken = default);

    /// <summary>The registrations waiting for approval whose names match the pattern, by name.</summary>
    Task<IReadOnlyList<DistPendingHost>> ListPendingAsync(string? namePattern = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Approves the pending registration of this name: it becomes a host like a freshly registered one. One that would
    /// replace an enrolled host needs <paramref name="replace"/> (HostReplaceRequired otherwise); the enrolled host then keeps
    /// its id, history, groups and jobs and takes the new credential, and its old credential is revoked.
    /// </summary>
    Task<DistHost> ApproveAsync(string name, bool replace, CancellationToken cancellationToken = default);

    /// <summary>Refuses the pending registration of this name: its credential is revoked, the manager and relays refuse it.</summary>
    Task DenyAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Wakes the hosts the pattern names (Wake-on-LAN) with their MAC address from the inventory: the magic packet goes out
    /// from here for a host directly under the manager, and a host below a relay is woken by that relay on its own network.
    /// One result per host, by name; a host without a known MAC address gets NoMacAddress. HostNotFound when nothing matches.
    /// </summary>
    Task<IReadOnlyList<DistHostWake>> WakeAsync(WakeHostsRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Asks the agents of the hosts the pattern names to shut their computers down once no install or transfer runs there,
    /// after the grace: a signed order each agent finds with its work (through its relays). One result per host, by name;
    /// Get-DistHost's PowerStatus says later when the agent took it and when it was done. HostNotFound when nothing matches.
    /// </summary>
    Task<IReadOnlyList<DistHostPower>> StopAsync(StopHostsRequest request, CancellationToken cancellationToken = default);
}
