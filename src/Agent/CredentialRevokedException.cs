namespace JP1Dist.Agent;

/// <summary>
/// The higher system refused this agent's credential as revoked (the host was removed with Remove-DistHost -Revoke, its
/// enrollment was denied, or another computer replaced it). Not retried and not answered by registering again: the
/// agent (or relay) stops with <see cref="ExitCode"/>, and its message says what the administrator must do.
/// </summary>
public sealed class CredentialRevokedException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The exit code of a jp1dist agent or relay that stops because its credential was revoked.</summary>
    public const int ExitCode = JP1Dist.Protocol.CommandExitCodes.CredentialRevoked;
}
