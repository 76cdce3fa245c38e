using JP1Dist.Protocol;

namespace JP1Dist.Agent;

/// <summary>
/// Where an agent's or relay's enrollment token comes from, first found wins: --token (visible in the process list: for
/// labs and scripts that run once), --token-file (a file the startup script or service account can read), then the
/// JP1DIST_TOKEN environment variable (seen only by this process and the user who started it).
/// </summary>
public static class TokenSource
{
    /// <summary>The environment variable read when neither --token nor --token-file is given.</summary>
    public const string Variable = "JP1DIST_TOKEN";

    /// <summary>
    /// The token text, or null when none is given anywhere; <paramref name="error"/> says what is wrong when the file cannot
    /// be read or the text is not a token (the token itself is never echoed).
    /// </summary>
    public static string? Resolve(string? token, string? tokenFile, Func<string, string?> environment, out string? error)
    {
        error = null;
        string? text;
        string source;
        if (!string.IsNullOrWhiteSpace(token))
        {
            (text, source) = (token, "--token");
        }
        else if (!string.IsNullOrWhiteSpace(tokenFile))
        {
            try
            {
                (text, source) = (File.ReadAllText(tokenFile), $"--token-file '{tokenFile}'");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                error = $"The token file '{tokenFile}' cannot be read: {e.Message}";
                return null;
            }
        }
        else if (environment(Variable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            (text, source) = (fromEnvironment, Variable);
        }
        else
        {
            return null;
        }
        text = text.Trim();
        if (EnrollmentTokenText.TryParse(text) is null)
        {
            error = $"The enrollment token from {source} is not one: expected SECRET[.SIGNINGKEYFINGERPRINT[.CERTIFICATEPIN]] as New-DistEnrollmentToken prints it.";
            return null;
        }
        return text;
    }
}
