using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;

namespace JP1Dist.Server.Serving;

/// <summary>
/// What a higher system does for its lower clients. The agent API (<see cref="AgentApi"/>) calls only this, so the
/// manager and every relay serve exactly the same endpoints with the same code: the manager from its database and
/// content store (<c>Manager/ManagerNode</c>), a relay from its own store and package cache, passing everything it
/// cannot decide itself upward (<c>Relay/RelayNode</c>).
/// </summary>
public interface IHigherSystemNode
{
    /// <summary>Registers a host whose own higher system is <paramref name="parentHostId"/> (null: this node itself).</summary>
    Task<RegisterResponse> RegisterAsync(RegisterRequest request, Guid? parentHostId, CancellationToken cancellationToken);

    /// <summary>The host whose id and credential these are, or null; a revoked credential throws CredentialRevoked (Unauthorized).</summary>
    Task<Guid?> AuthenticateAsync(Guid hostId, string credential, CancellationToken cancellationToken);

    /// <summary>Changes whenever this node learns of revoked credentials: credentials verified before are checked again.</summary>
    long CredentialGeneration { get; }

    /// <summary>Whether the host is at or below the relay (a relay may act only for hosts in its own subtree).</summary>
    Task<bool> IsAtOrBelowAsync(Guid hostId, Guid relayId, CancellationToken cancellationToken);

    /// <summary>Whether the host is registered as a relay.</summary>
    Task<bool> IsRelayAsync(Guid hostId, CancellationToken cancellationToken);

    /// <summary>Records a host's changed facts; true when something changed (or was passed upward).</summary>
    Task<bool> ReportFactsAsync(Guid hostId, FactsReport facts, CancellationToken cancellationToken);

    /// <summary>
    /// Waits up to <paramref name="wait"/> for the host's work or a power order for it, answering as soon as there is some
    /// (the caller adds the signing-key announcements).
    /// </summary>
    Task<WorkResponse> WaitForWorkAsync(Guid hostId, TimeSpan wait, CancellationToken cancellationToken);

    /// <summary>Records a host's report on one work item.</summary>
    Task<ReportResponse> ReportAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken);

    /// <summary>Notes that the host was seen (callers throttle this).</summary>
    Task TouchAsync(Guid hostId);

    /// <summary>
    /// The local file holding this content, fetched first when this node can; null when it is not known here (the manager),
    /// or a NotAvailable refusal when the node may not know it yet (a relay whose work is older than its client's).
    /// </summary>
    Task<string?> GetContentPathAsync(string sha256, CancellationToken cancellationToken);

    /// <summary>A relay's long poll: every current work item of every host below it, once it differs from <paramref name="etag"/>.</summary>
    Task<RelayWorkResponse> WaitForRelayWorkAsync(Guid relayId, TimeSpan wait, string? etag, CancellationToken cancellationToken);

    /// <summary>Applies what a relay passes upward, entry by entry; every entry's host must be below that relay.</summary>
    Task<RelayBatchResponse> ApplyRelayBatchAsync(Guid relayId, RelayBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// Issues the TLS certificate of the relay <paramref name="relayId"/> (the manager, with its signing key), or passes the
    /// request upward (a relay). The caller checked that the relay is the calling relay or below it.
    /// </summary>
    Task<RelayCertificateResponse> IssueRelayCertificateAsync(Guid relayId, RelayCertificateRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// The announcements of the manager's signing keys still in their grace period, sent with every work answer: the
    /// manager's own, or those a relay accepted from its higher system (empty when there are none).
    /// </summary>
    IReadOnlyList<Protocol.Signing.SigningKeyAnnouncement> SigningKeyAnnouncements();

    /// <summary>How many targets this node knows in each status (for GET /metrics).</summary>
    Task<IReadOnlyDictionary<TargetStatus, int>> CountTargetsAsync(CancellationToken cancellationToken);
}
