namespace JP1Dist.Agent;

/// <summary>
/// The agent cannot register as it was started: it holds no identity and has no enrollment token, or the token is not
/// one. Nothing to retry: the agent stops with <see cref="Protocol.CommandExitCodes.Usage"/> and the message says what to give it.
/// An <see cref="InvalidOperationException"/>, as callers caught it before it had a type of its own.
/// </summary>
public sealed class NotRegisteredException(string message) : InvalidOperationException(message);
