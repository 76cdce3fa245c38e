namespace JP1Dist.Protocol;

/// <summary>What an install command's exit code means for a package.</summary>
public enum ExitCodeMeaning
{
    /// <summary>One of the package's success codes.</summary>
    Success,
    /// <summary>Installed, and the computer must restart to finish (3010 and 1641 unless the package says otherwise).</summary>
    RebootRequired,
    /// <summary>Not installed because something else was busy (1618, another installation in progress): try again later.</summary>
    RetryLater,
    /// <summary>Anything else: the install failed.</summary>
    Failure,
}

/// <summary>An exit code read through a package's lists: its meaning, the code it was taken for, and how.</summary>
/// <param name="Meaning">What the code means for the package.</param>
/// <param name="Code">The code as the package lists it: <paramref name="Reported"/>, or a listed code above 255 it is the low 8 bits of.</param>
/// <param name="Reported">The exit status the operating system gave.</param>
public sealed record ExitCodeReading(ExitCodeMeaning Meaning, int Code, int Reported)
{
    /// <summary>Whether the code was read as a listed code above 255 that a POSIX system cut to its low 8 bits.</summary>
    public bool Mapped => Code != Reported;
}

/// <summary>
/// The one rule for install exit codes, used by the agent (to report) and the manager (to retry later): a package's
/// success codes, reboot codes and retry codes. Windows passes a process's whole 32-bit exit code; Linux and macOS pass
/// only its low 8 bits (3010 arrives as 194), so there a status of 0-255 that is not itself listed is read as the one
/// listed code above 255 with those low bits, and the reading says so.
/// </summary>
public static class ExitCodes
{
    /// <summary>The reboot codes of a package that names none: 3010 (ERROR_SUCCESS_REBOOT_REQUIRED) and 1641 (ERROR_SUCCESS_REBOOT_INITIATED).</summary>
    public static readonly IReadOnlyList<int> DefaultReboot = [3010, 1641];

    /// <summary>The retry codes of a package that names none: 1618 (ERROR_INSTALL_ALREADY_RUNNING).</summary>
    public static readonly IReadOnlyList<int> DefaultRetry = [1618];

    /// <summary>How many codes each list may hold.</summary>
    public const int MaxCodes = 64;

    /// <summary>The package's reboot codes (the defaults when its manifest names none).</summary>
    public static IReadOnlyList<int> Reboot(PackageManifest manifest) => manifest.RebootExitCodes ?? DefaultReboot;

    /// <summary>The package's retry codes (the defaults when its manifest names none).</summary>
    public static IReadOnlyList<int> Retry(PackageManifest manifest) => manifest.RetryExitCodes ?? DefaultRetry;

    /// <summary>Reads <paramref name="reported"/> through the package's lists; <paramref name="eightBit"/>: the host passes only the low 8 bits (Linux, macOS).</summary>
    public static ExitCodeReading Read(PackageManifest manifest, int reported, bool eightBit)
    {
        var lists = new (IReadOnlyList<int> Codes, ExitCodeMeaning Meaning)[]
        {
            (manifest.SuccessExitCodes, ExitCodeMeaning.Success), (Reboot(manifest), ExitCodeMeaning.RebootRequired), (Retry(manifest), ExitCodeMeaning.RetryLater),
        };
        foreach (var (codes, meaning) in lists)
        {
            if (codes.Contains(reported))
            {
                return new ExitCodeReading(meaning, reported, reported);
            }
        }
        if (eightBit && reported is >= 0 and <= 255)
        {
            var candidates = lists.SelectMany(l => l.Codes.Where(c => c is < 0 or > 255 && (c & 0xFF) == reported).Select(c => (Code: c, l.Meaning))).Distinct().ToList();
            // Only an unambiguous match: two listed codes with the same low 8 bits say nothing about which one it was.
            if (candidates.Count == 1)
            {
                return new ExitCodeReading(candidates[0].Meaning, candidates[0].Code, reported);
            }
        }
        return new ExitCodeReading(ExitCodeMeaning.Failure, reported, reported);
    }

    /// <summary>Whether a host with this operating system passes only 8 bits of an exit code.</summary>
    public static bool IsEightBit(string? os) => !string.Equals(os, "Windows", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The first problem with a package's three lists, as a phrase naming it; null when they are usable: at most
    /// <see cref="MaxCodes"/> codes each, and no code in two lists.
    /// </summary>
    public static string? Validate(IReadOnlyList<int> success, IReadOnlyList<int> reboot, IReadOnlyList<int> retry)
    {
        foreach (var (codes, name) in new[] { (success, "-SuccessExitCode"), (reboot, "-RebootExitCode"), (retry, "-RetryExitCode") })
        {
            if (codes.Count > MaxCodes)
            {
                return $"{name} lists {codes.Count} codes; at most {MaxCodes}";
            }
        }
        var twice = success.Intersect(reboot).Concat(success.Intersect(retry)).Concat(reboot.Intersect(retry)).Distinct().ToList();
        return twice.Count > 0
            ? $"exit code{(twice.Count > 1 ? "s" : "")} {string.Join(", ", twice)} {(twice.Count > 1 ? "are" : "is")} in more than one of -SuccessExitCode, -RebootExitCode and -RetryExitCode"
            : null;
    }

    /// <summary>
    /// The codes above 255 (or below 0) a package lists while its conditions let it install on Linux or macOS, where an
    /// exit status has 8 bits: such a code arrives as its low 8 bits. Empty when there is nothing to warn about.
    /// </summary>
    public static IReadOnlyList<int> BeyondEightBits(IReadOnlyList<int> success, IReadOnlyList<int> reboot, IReadOnlyList<int> retry, IReadOnlyList<string>? allowedOS)
    {
        var posixAllowed = allowedOS is not { Count: > 0 } || allowedOS.Any(IsEightBit);
        return posixAllowed ? success.Concat(reboot).Concat(retry).Where(c => c is < 0 or > 255).Distinct().ToList() : [];
    }
}

/// <summary>
/// The exit codes of the jp1dist commands: one table for all of them, documented once (docs/operations.md, "Exit codes").
/// A command uses the ones that apply to it; none gives a code another meaning. `jp1dist agent --once` uses all of them,
/// for the startup scripts and schedulers that run it; when several apply, the first of these wins: <see cref="Usage"/>,
/// <see cref="CredentialRevoked"/>, <see cref="EnrollmentRefused"/>, <see cref="Canceled"/>, <see cref="Unavailable"/>,
/// <see cref="Failed"/>, <see cref="RebootRequired"/>, <see cref="Success"/>.
/// </summary>
public static class CommandExitCodes
{
    /// <summary>Done: everything there was to do now was done (an agent's registration waiting for approval included).</summary>
    public const int Success = 0;

    /// <summary>
    /// Failed: an install (or a transfer, or a work item's checks) failed, others may have succeeded; or a fault of this
    /// computer (a full disk, a denied path) stopped the command. The log says which.
    /// </summary>
    public const int Failed = 1;

    /// <summary>Usage error: an option or argument that is unknown, missing or out of range, or a node that cannot start as asked (not registered and no token). Nothing was done.</summary>
    public const int Usage = 2;

    /// <summary>The higher system refused this node's credential as revoked (Remove-DistHost -Revoke, Deny-DistHost): its state folder must be cleared and a new token given.</summary>
    public const int CredentialRevoked = 3;

    /// <summary>The higher system refused to register this node (a token unknown, expired, used up or of the wrong kind; a name held by another credential): a new token or a settled name is needed.</summary>
    public const int EnrollmentRefused = 4;

    /// <summary>
    /// Try again later: no higher system could be reached, or none answered in time (or one answered what the node cannot
    /// use, or was not the one trusted). Work left undone is done by the next run. 75 is EX_TEMPFAIL of sysexits.h
    /// ("temporary failure, the user is invited to retry"), and fits the 8 bits a POSIX exit status has.
    /// </summary>
    public const int Unavailable = 75;

    /// <summary>Stopped by Ctrl+C or SIGTERM before the work was done (128 + SIGINT, as shells report it).</summary>
    public const int Canceled = 130;

    /// <summary>
    /// Done, and the computer must restart to finish: an install ended with a reboot code (3010, 1641 unless the package
    /// names others) and nothing failed. ERROR_SUCCESS_REBOOT_REQUIRED, as msiexec uses it; a POSIX shell sees its low 8 bits, 194.
    /// </summary>
    public const int RebootRequired = 3010;
}
