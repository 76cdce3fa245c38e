using JP1Dist.Contracts;

namespace JP1Dist.Core.Security;

/// <summary>
/// Who asks the engine for something, and from where: the principal the audit log names (an access key's name, or the
/// operating system user of a process on this computer), the source ("local", or the address a request came from), and
/// the role that decides what the caller may do. An engine acts for one caller (<see cref="DistEngine.Caller"/>): the
/// engine opened on a data folder for the local user, a view from <see cref="DistEngine.As"/> for anyone else.
/// </summary>
public sealed record DistCaller(string Principal, string Source, DistRole Role)
{
    /// <summary>The source of a caller on the manager's computer.</summary>
    public const string LocalSource = "local";

    /// <summary>
    /// A process on this computer that can open the data folder: its operating system user (DOMAIN\user on Windows), an
    /// Administrator, since whoever can read the folder can read and change everything in it anyway.
    /// </summary>
    public static DistCaller Local { get; } = new(LocalUserName(), LocalSource, DistRole.Administrator);

    private static string LocalUserName() =>
        OperatingSystem.IsWindows() && Environment.UserDomainName is { Length: > 0 } domain
            ? $@"{domain}\{Environment.UserName}"
            : Environment.UserName;
}
