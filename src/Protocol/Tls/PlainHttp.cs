namespace JP1Dist.Protocol.Tls;

/// <summary>
/// The one rule for unencrypted HTTP: only on loopback addresses (127.0.0.0/8, ::1, localhost), where nothing leaves the
/// computer, unless the administrator accepts the risk with --allow-insecure-http. Anywhere else enrollment tokens,
/// credentials and packages would cross the network readable and alterable by anyone on the way.
/// </summary>
public static class PlainHttp
{
    /// <summary>The command-line switch that allows plain HTTP beyond loopback.</summary>
    public const string AllowSwitch = "--allow-insecure-http";

    /// <summary>
    /// The environment variable that carries a serving node's certificate password (--certificate-password is visible to
    /// other users in the process list).
    /// </summary>
    public const string CertificatePasswordVariable = "JP1DIST_CERTIFICATE_PASSWORD";

    /// <summary>Whether the URL is plain http:// to an address other than loopback (a wildcard listen address included).</summary>
    public static bool IsInsecure(Uri url) => url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback;

    /// <summary>Why a node must not listen on <paramref name="listenUrl"/>; null when it may.</summary>
    public static string? ListenRefusal(string role, Uri listenUrl, bool allowInsecure) =>
        allowInsecure || !IsInsecure(listenUrl) ? null
        : $"jp1dist {role}: refusing to listen on {listenUrl.GetLeftPart(UriPartial.Authority)} with plain HTTP: enrollment tokens, credentials "
          + $"and packages would cross the network unencrypted. Listen on https://{listenUrl.Authority} (the {role} creates its "
          + $"certificate, or give one with --certificate), or on a loopback address such as http://127.0.0.1:{listenUrl.Port}; "
          + $"to accept the risk on a network you trust, add {AllowSwitch}.";

    /// <summary>Why a node must not connect to its higher system at <paramref name="higherUrl"/>; null when it may.</summary>
    public static string? ConnectRefusal(string role, Uri higherUrl, bool allowInsecure) =>
        allowInsecure || !IsInsecure(higherUrl) ? null
        : $"jp1dist {role}: refusing to connect to {higherUrl.GetLeftPart(UriPartial.Authority)} with plain HTTP: the enrollment token, "
          + $"the credential and the packages would cross the network unencrypted. Use the higher system's https:// address "
          + $"(its certificate pin comes with the enrollment token, or give it with --certificate-pin); to accept the risk on a "
          + $"network you trust, add {AllowSwitch}.";

    /// <summary>The warning a node logs when it was allowed plain HTTP beyond loopback.</summary>
    public static string Warning(Uri url) =>
        $"Plain HTTP to {url.GetLeftPart(UriPartial.Authority)} beyond loopback ({AllowSwitch}): enrollment tokens, credentials and packages cross the network unencrypted.";
}
