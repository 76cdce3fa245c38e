using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Agent;

/// <summary>
/// The registration answer carries a signing key other than the one the enrollment token names: the agent refuses it and
/// saves nothing, since every manifest it would accept later is checked against that key.
/// </summary>
public sealed class SigningKeyMismatchException(string message) : Exception(message);

/// <summary>
/// What an agent (or a relay's upward connection) trusts before it has a credential, and after: the certificate pin in
/// force and the signing key the enrollment token names.
/// </summary>
public static class AgentTrust
{
    /// <summary>
    /// The pin the connection to the higher system is held to: --certificate-pin, else the pin the identity registered
    /// with, else the token's; null when there is none (https then uses the operating system's trust store).
    /// </summary>
    public static string? ExpectedPin(string? optionPin, AgentIdentity? identity, string? token) =>
        Fingerprints.Normalize(optionPin) ?? identity?.CertificatePin ?? EnrollmentTokenText.TryParse(token)?.CertificatePin;

    /// <summary>
    /// The fingerprints of the signing keys this node trusts at <paramref name="now"/> as issuers of a higher system's
    /// certificate (a relay's certificate, issued by the manager: <see cref="JP1Dist.Protocol.Tls.RelayCertificates"/>):
    /// once it has registered, every key of <see cref="TrustedSigningKeys(AgentIdentity, DateTime)"/> (the key it pinned and
    /// the keys announced since, each until its retirement); before, the one its enrollment token names; none when it has
    /// neither.
    /// </summary>
    public static IReadOnlyList<string> TrustedIssuerFingerprints(AgentIdentity? identity, string? token, DateTime now) =>
        identity is not null ? TrustedSigningKeys(identity, now).Select(k => k.Fingerprint).ToList()
        : EnrollmentTokenText.TryParse(token)?.SigningKeyFingerprint is { } named ? [named] : [];

    /// <summary>
    /// Checks the signing key of a registration answer against the key the token names (when it names one) and returns
    /// the trust the agent keeps: the anchor (the token's key) and the announcements that lead from it to the answer's
    /// key. A token made before the manager's last rotation names the key it replaced: the answer then carries that key's
    /// announcement (signed by it), which must verify and the key must still be in its grace period at
    /// <paramref name="now"/>. Anything else is refused, and nothing is saved.
    /// </summary>
    public static (string Anchor, IReadOnlyList<SigningKeyAnnouncement> Chain) CheckSigningKey(EnrollmentTokenText token, RegisterResponse response, DateTime now)
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(response);
        var presented = Fingerprints.OfPublicKey(response.ManifestPublicKey ?? "") ?? "(not a public key)";
        if (token.SigningKeyFingerprint is not { } expected || Fingerprints.Same(presented, expected))
        {
            return (response.ManifestPublicKey!, []);
        }
        // The token's key, if the manager replaced it lately: its own announcement carries it.
        var anchor = response.SigningKeys?.Take(SigningKeyChain.MaxOffered).FirstOrDefault(a => a is not null && Fingerprints.Same(a.OldFingerprint, expected))?.OldPublicKey;
        if (anchor is not null)
        {
            var chain = SigningKeyChain.Accept(anchor, [], response.SigningKeys, now).Accepted;
            if (SigningKeyChain.TrustedAt(anchor, chain, now).Any(k => Fingerprints.Same(k.Fingerprint, presented)))
            {
                return (anchor, chain);
            }
        }
        throw new SigningKeyMismatchException(
            $"The higher system answered the registration with signing key {presented}, but the enrollment token names {expected}"
            + (anchor is null ? "" : ", and no announcement signed by that key in its grace period leads to the answer's key")
            + ". Nothing was saved: this agent does not trust that higher system. Check that the token was made by this manager, "
            + "after its last signing key rotation (New-DistEnrollmentToken).");
    }

    /// <summary>
    /// Which signing keys a node trusts at <paramref name="at"/> (UTC): the one it pinned at enrollment and those it learned
    /// from announcements, each until its retirement (<see cref="SigningKeyChain.TrustedAt"/>). The one answer for every
    /// signature of the manager's key a node checks: work items (<see cref="SignedWork"/>), relay snapshots, certificates.
    /// </summary>
    public static IReadOnlyList<TrustedSigningKey> TrustedSigningKeys(AgentIdentity identity, DateTime at)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return SigningKeyChain.TrustedAt(identity.ManifestPublicKey, identity.SigningKeyAnnouncements, at);
    }

    /// <summary>The public keys (base64 SubjectPublicKeyInfo) of <see cref="TrustedSigningKeys"/>.</summary>
    public static IReadOnlyList<string> TrustedPublicKeys(AgentIdentity identity, DateTime at) =>
        TrustedSigningKeys(identity, at).Select(k => k.PublicKey).ToList();

    /// <summary>
    /// Takes the announcements a higher system sent (<see cref="SigningKeyChain.Accept"/>) into the identity on disk, and
    /// saves it before the new key is used, so a restart keeps trusting it. Returns the identity as it is now (null when
    /// the node has none) and what was added or refused.
    /// </summary>
    public static (AgentIdentity? Identity, SigningKeyChainUpdate Update) AcceptAnnouncements(AgentStateStore store, IReadOnlyList<SigningKeyAnnouncement>? offered, DateTime now)
    {
        ArgumentNullException.ThrowIfNull(store);
        var update = new SigningKeyChainUpdate([], [], []);
        if (offered is not { Count: > 0 })
        {
            return (store.LoadIdentity(), update);
        }
        var identity = store.UpdateIdentity(current =>
        {
            update = SigningKeyChain.Accept(current.ManifestPublicKey, current.SigningKeyAnnouncements, offered, now);
            return update.Added.Count == 0 ? current : current with { SigningKeyAnnouncements = update.Accepted };
        });
        return (identity, update);
    }
}
