namespace JP1Dist.Agent;

/// <summary>
/// The higher system refused to register this agent for a reason no retry cures (the token is unknown, expired, used up
/// or of the wrong kind; the name belongs to another credential; the request was refused as malformed): the agent stops
/// with <see cref="ExitCode"/> and a message saying what the administrator must do, rather than asking again for ever.
/// </summary>
public sealed class EnrollmentRefusedException(string errorId, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The exit code of a jp1dist agent or relay whose registration was refused.</summary>
    public const int ExitCode = JP1Dist.Protocol.CommandExitCodes.EnrollmentRefused;

    /// <summary>The higher system's error id (EnrollmentTokenExpired, HostNameTaken, ...).</summary>
    public string ErrorId { get; } = errorId;
}
