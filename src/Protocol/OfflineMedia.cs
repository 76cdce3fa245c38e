using System.Security.Cryptography;
using System.Text;

namespace JP1Dist.Protocol;

/// <summary>
/// Offline media (Export-DistOfflineMedia, <c>jp1dist offline</c>, Import-DistOfflineResult): a folder holding one work
/// item of one (job, host) target as the manager serves it over the network (the signed manifest and the signed job
/// settings, bound to the host and the ticket), the package's files by SHA-256, and a secret of this media only with which
/// the computer that installs from it signs its result. The manager keeps the secret and accepts a result once.
/// </summary>
/// <remarks>
/// The signing key in the description is there to be compared, never trusted for itself: the installing side trusts the
/// keys its own agent state pinned at enrollment, or the key whose fingerprint its operator gives.
/// </remarks>
public sealed record OfflineMediaDescription(
    int Format,
    Guid MediaId,
    Guid HostId,
    string HostName,
    string SigningPublicKey,
    WorkItem Work,
    DateTime CreatedAt,
    string ResultKey);

/// <summary>
/// What an offline install did, written into the media next to its signature (HMAC-SHA256 with the media's result key):
/// the media, the host and ticket it was made for, the computer that installed, the status an agent would have reported
/// (Succeeded, SucceededRebootRequired, Failed, ConditionNotMet), its exit code, message and output, and the computer's
/// facts and inventory after the install.
/// </summary>
public sealed record OfflineResult(
    int Format,
    Guid MediaId,
    Guid HostId,
    Guid WorkItemId,
    string ComputerName,
    string Status,
    int? ExitCode,
    string Message,
    string? OutputTail,
    DateTime StartedAt,
    DateTime EndedAt,
    FactsReport? Facts);

/// <summary>The files of offline media and the rule that signs a result.</summary>
public static class OfflineMediaFiles
{
    public const int Format = 1;
    public const string Description = "media.json";
    public const string Result = "result.json";
    public const string ResultSignature = "result.sig";
    public const string Content = "content";

    /// <summary>The largest description or result read (the manifest of a package of many files, the inventory).</summary>
    public const long MaxJsonBytes = 64L * 1024 * 1024;

    /// <summary>A new result key: 32 random bytes, base64.</summary>
    public static string NewResultKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The signature of a result's exact bytes: HMAC-SHA256 with the media's result key, lower-case hex.</summary>
    public static string Sign(ReadOnlySpan<byte> resultJson, string resultKey) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Convert.FromBase64String(resultKey), resultJson));

    /// <summary>Whether <paramref name="signature"/> is the result's signature under the key (compared in constant time).</summary>
    public static bool Verify(ReadOnlySpan<byte> resultJson, string? signature, string resultKey)
    {
        var expected = Encoding.ASCII.GetBytes(Sign(resultJson, resultKey));
        var given = Encoding.ASCII.GetBytes((signature ?? "").Trim());
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }
}
