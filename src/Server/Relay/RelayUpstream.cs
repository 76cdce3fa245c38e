using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;

namespace JP1Dist.Server.Relay;

/// <summary>
/// The relay's connection to its higher system, under the relay's own identity: the one its client role registered
/// (kind Relay) and keeps in its state folder. Read again before each call, so a re-registration is picked up.
/// </summary>
public sealed class RelayUpstream : IDisposable
{
    private readonly AgentStateStore _agentState;

    public RelayUpstream(RelayOptions options, HttpMessageHandler? handler = null, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        _agentState = new AgentStateStore(options.AgentFolder);
        // Held to the same trust as the relay's client role: the pin given, else the one it registered with, else the token's;
        // or a certificate issued by the signing key it trusts (a relay above it).
        var systems = new HigherSystems(options.HigherSystemUrls) { ReturnAfter = options.ReturnToFirstAfter };
        if (logger is not null)
        {
            systems.Moved = (from, to, back) => AgentRuntime.LogMove(logger, from, to, back);
        }
        Client = new HigherSystemClient(systems, handler,
            AgentTrust.ExpectedPin(options.CertificatePin, _agentState.LoadIdentity(), options.Token),
            () => AgentTrust.TrustedIssuerFingerprints(_agentState.LoadIdentity(), options.Token, DateTime.UtcNow));
    }

    /// <summary>The client, with the relay's current identity set.</summary>
    public HigherSystemClient Client { get; }

    /// <summary>The relay's identity at its higher system, or null before its first registration (and while it waits for approval).</summary>
    public AgentIdentity? Identity
    {
        get
        {
            var identity = _agentState.LoadIdentity() is { Pending: false } registered ? registered : null;
            Client.Identity = identity;
            return identity;
        }
    }

    /// <summary>
    /// Takes signing-key announcements from the higher system into the relay's identity (<see cref="AgentTrust.AcceptAnnouncements"/>,
    /// the same file and rule as its client role); the identity as it is now, and what was added or refused.
    /// </summary>
    public (AgentIdentity? Identity, Protocol.Signing.SigningKeyChainUpdate Update) AcceptSigningKeys(IReadOnlyList<Protocol.Signing.SigningKeyAnnouncement>? offered, DateTime now) =>
        AgentTrust.AcceptAnnouncements(_agentState, offered, now);

    /// <summary>The relay's identity; a NotAvailable error while the relay has not registered yet.</summary>
    public AgentIdentity RequireIdentity() => Identity ?? throw new DistException("RelayNotRegistered", DistErrorKind.NotAvailable,
        "This relay has not registered with its higher system yet; try again shortly.");

    /// <summary>Turns a failed upward call into the error a lower client should see.</summary>
    public static DistException Translate(Exception e) => e switch
    {
        HigherSystemException { Status: System.Net.HttpStatusCode.Unauthorized } refused =>
            new DistException(refused.ErrorId, DistErrorKind.Unauthorized, refused.Message),
        HigherSystemException { Status: System.Net.HttpStatusCode.Forbidden } forbidden =>
            new DistException(forbidden.ErrorId, DistErrorKind.Forbidden, forbidden.Message),
        HigherSystemException { Status: System.Net.HttpStatusCode.NotFound } missing =>
            new DistException(missing.ErrorId, DistErrorKind.NotFound, missing.Message),
        HigherSystemException { Status: System.Net.HttpStatusCode.Conflict } conflict =>
            new DistException(conflict.ErrorId, DistErrorKind.InvalidOperation, conflict.Message),
        HigherSystemException { Status: System.Net.HttpStatusCode.BadRequest } bad =>
            new DistException(bad.ErrorId, DistErrorKind.InvalidArgument, bad.Message),
        _ => new DistException("HigherSystemUnreachable", DistErrorKind.NotAvailable,
            $"The relay cannot reach its higher system now ({e.Message}); try again later."),
    };

    public void Dispose() => Client.Dispose();
}
