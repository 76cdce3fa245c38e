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
    /// The signing keys this node trusts at <paramref name="now"/> (fingerprints, <see cref="Fingerprints"/>): the key in its
    /// identity once it has registered, else the one its enrollment token names; none when it has neither. A higher
    /// system whose certificate was issued by one of these keys is trusted without a pin (a relay's certificate, issued by
    /// the manager: <see cref="JP1Dist.Protocol.Tls.RelayCertificates"/>). Every place that asks "which signing keys do I
    /// trust" asks here, so a change of the manager's key (keys announced for a time) extends this one set.
    /// </summary>
    public static IReadOnlyList<string> TrustedSigningKeys(AgentIdentity? identity, string? token, DateTime now)
    {
        _ = now; // the set does not depend on the time yet; keys announced for a period will
        if (identity is not null)
        {
            return Fingerprints.OfPublicKey(identity.ManifestPublicKey) is { } registered ? [registered] : [];
        }
        return EnrollmentTokenText.TryParse(token)?.SigningKeyFingerprint is { } named ? [named] : [];
    }

    /// <summary>Refuses a registration answer whose signing key is not the one the token names (when it names one).</summary>
    public static void CheckSigningKey(EnrollmentTokenText token, string manifestPublicKey)
    {
        if (token.SigningKeyFingerprint is not { } expected)
        {
            return;
        }
        var presented = Fingerprints.OfPublicKey(manifestPublicKey) ?? "(not a public key)";
        if (!Fingerprints.Same(presented, expected))
        {
            throw new SigningKeyMismatchException(
                $"The higher system answered the registration with signing key {presented}, but the enrollment token names {expected}. "
                + "Nothing was saved: this agent does not trust that higher system. Check that the token was made by this manager (New-DistEnrollmentToken).");
        }
    }
}
