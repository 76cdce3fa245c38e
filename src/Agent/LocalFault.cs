using System.ComponentModel;
using System.Globalization;

namespace JP1Dist.Agent;

/// <summary>What went wrong on this computer (not at the higher system): each kind has its own message and advice.</summary>
public enum LocalFaultKind
{
    /// <summary>The volume has no room left (ENOSPC or EDQUOT; ERROR_DISK_FULL or ERROR_HANDLE_DISK_FULL on Windows).</summary>
    DiskFull,

    /// <summary>The node's account may not write or read there, or the file system is read-only.</summary>
    PermissionDenied,

    /// <summary>A folder the work needs (staging, download, cache) cannot be created, for another reason than the two above.</summary>
    FolderNotCreatable,

    /// <summary>The install command (or a check program) does not exist on this computer.</summary>
    CommandNotFound,

    /// <summary>The command exists but cannot be run: not executable for the node's account, or not a program for this system.</summary>
    CommandNotExecutable,

    /// <summary>Any other failure of a local file operation.</summary>
    StorageFailed,
}

/// <summary>
/// A fault of this computer's storage or programs, with the path it concerns and what was being done there. The one place
/// that tells a local fault from a remote one and words it: a node ends the work it hit with <see cref="Message"/> (and
/// <see cref="Advice"/>), it never takes it for an unreachable higher system and retries it for ever.
/// </summary>
public sealed record LocalFault(LocalFaultKind Kind, string Path, string Action, string? Cause = null)
{
    /// <summary>For <see cref="LocalFaultKind.DiskFull"/>: the bytes the work still had to write, when known.</summary>
    public long? NeededBytes { get; init; }

    /// <summary>For <see cref="LocalFaultKind.DiskFull"/>: the bytes free on the volume when the fault was seen, when known.</summary>
    public long? FreeBytes { get; init; }

    /// <summary>For <see cref="LocalFaultKind.DiskFull"/>: seen before writing (<see cref="EnsureRoom"/>), not by a write the volume refused.</summary>
    public bool Foreseen { get; init; }

    /// <summary>
    /// The room a transfer leaves free on its volume for the node's own state (tickets, progress, the relay's store, logs):
    /// a package that fits must not leave the node unable to record that it arrived.
    /// </summary>
    public const long StateReserveBytes = 1024 * 1024;

    /// <summary>What happened, naming the fault and the path.</summary>
    public string Message => Kind switch
    {
        LocalFaultKind.DiskFull => (Foreseen ? "Not enough disk space: " : "The disk is full: ") + $"{Action} '{Path}' "
            + (NeededBytes is { } needed ? $"needs {FormatBytes(needed)} more" : "failed for lack of space")
            + (Cause is { } why ? $" ({why})" : "")
            + (FreeBytes is { } free ? $", and {FormatBytes(free)} are free on its volume." : "."),
        LocalFaultKind.PermissionDenied => $"Permission denied: {Action} '{Path}' is not allowed ({Cause ?? $"the account '{Environment.UserName}' may not write there"}).",
        LocalFaultKind.FolderNotCreatable => $"A folder cannot be created: {Action} '{Path}' failed: {Cause}.",
        LocalFaultKind.CommandNotFound => $"{Capitalized(Action)} '{Path}' was not found: {Cause}.",
        LocalFaultKind.CommandNotExecutable => $"{Capitalized(Action)} '{Path}' cannot be run: {Cause}.",
        _ => $"A local file operation failed: {Action} '{Path}': {Cause}.",
    };

    /// <summary>What happened and what to do, as one text (a status message, a line on the console).</summary>
    public string MessageWithAdvice => $"{Message} {Advice}";

    /// <summary>What an administrator does about it.</summary>
    public string Advice => Kind switch
    {
        LocalFaultKind.DiskFull => "Free space on that volume, then execute the job again.",
        LocalFaultKind.PermissionDenied => $"Give the account '{Environment.UserName}' write access there, or make the file system writable, then execute the job again.",
        LocalFaultKind.FolderNotCreatable => "Remove what is in the way or give the node a state folder it can use, then execute the job again.",
        LocalFaultKind.CommandNotFound or LocalFaultKind.CommandNotExecutable =>
            "Check the package's install command (a file of the package, or a program this computer has on its PATH).",
        _ => "Check the volume, then execute the job again.",
    };

    /// <summary>The same fault, with the bytes the whole work still needed (a transfer knows more than the write that failed).</summary>
    public LocalFault WithNeeded(long neededBytes) => this with { NeededBytes = Math.Max(0, neededBytes) };

    /// <summary>A count of bytes as people read it: "1,048,576 bytes".</summary>
    public static string FormatBytes(long count) => count.ToString("N0", CultureInfo.InvariantCulture) + (count == 1 ? " byte" : " bytes");

    private static string Capitalized(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    // ---- classification: the only place that reads error codes ----

    private const int EnoSpc = 28;
    private const int EroFs = 30;
    private const int EAcces = 13;
    private const int ENoExec = 8;
    private const int ENoEnt = 2;
    private const int ErrorFileNotFound = 2;
    private const int ErrorPathNotFound = 3;
    private const int ErrorAccessDenied = 5;
    private const int ErrorBadExeFormat = 193;
    private const int HResultDiskFull = unchecked((int)0x80070070); // ERROR_DISK_FULL
    private const int HResultHandleDiskFull = unchecked((int)0x80070027); // ERROR_HANDLE_DISK_FULL
    private const int HResultWriteProtect = unchecked((int)0x80070013); // ERROR_WRITE_PROTECT

    /// <summary>EDQUOT, a quota that is full: the same to the node as a full disk.</summary>
    private static int EDQuot => OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 69 : 122;

    /// <summary>
    /// Whether <paramref name="e"/> is a full volume: on Unix .NET puts the errno in an IOException's HResult (ENOSPC 28,
    /// EDQUOT), on Windows the HRESULT of ERROR_DISK_FULL or ERROR_HANDLE_DISK_FULL.
    /// </summary>
    public static bool IsDiskFull(Exception e) => e is IOException io && (OperatingSystem.IsWindows()
        ? io.HResult is HResultDiskFull or HResultHandleDiskFull
        : io.HResult == EnoSpc || io.HResult == EDQuot);

    private static bool IsReadOnlyFileSystem(Exception e) => e is IOException io && io.HResult == (OperatingSystem.IsWindows() ? HResultWriteProtect : EroFs);

    /// <summary>
    /// The local fault <paramref name="e"/> shows without knowing where it came from, or null: a <see cref="LocalFaultException"/>,
    /// a full or read-only volume, a denied access, a missing path. A network failure is none of these (a broken connection
    /// is an IOException too, which is why the other local failures are turned into <see cref="LocalFaultException"/> where
    /// they happen: <see cref="Guard{T}"/>).
    /// </summary>
    public static LocalFault? Of(Exception e)
    {
        if (e is LocalFaultException local)
        {
            return local.Fault;
        }
        var isLocal = IsDiskFull(e) || IsReadOnlyFileSystem(e)
            || e is UnauthorizedAccessException or DirectoryNotFoundException or FileNotFoundException or PathTooLongException or DriveNotFoundException;
        return isLocal ? Classify(e, PathIn(e.Message) ?? "", "using") : null;
    }

    /// <summary>
    /// Classifies the failure of a local file operation (<paramref name="action"/> on <paramref name="path"/>): a full volume,
    /// a refusal, or another failure of the storage.
    /// </summary>
    public static LocalFault Classify(Exception e, string path, string action)
    {
        if (e is LocalFaultException local)
        {
            return local.Fault;
        }
        if (IsDiskFull(e))
        {
            return new LocalFault(LocalFaultKind.DiskFull, path, action) { FreeBytes = FreeSpace(path) };
        }
        if (IsReadOnlyFileSystem(e))
        {
            return new LocalFault(LocalFaultKind.PermissionDenied, path, action, "the file system is read-only");
        }
        if (e is UnauthorizedAccessException)
        {
            return new LocalFault(LocalFaultKind.PermissionDenied, path, action);
        }
        return new LocalFault(LocalFaultKind.StorageFailed, path, action, e.Message);
    }

    /// <summary>
    /// Runs a local file operation and turns its failure (IOException, UnauthorizedAccessException) into a
    /// <see cref="LocalFaultException"/> naming <paramref name="action"/> and <paramref name="path"/>.
    /// </summary>
    public static T Guard<T>(string path, string action, Func<T> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        try
        {
            return operation();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LocalFaultException(Classify(e, path, action), e);
        }
    }

    /// <inheritdoc cref="Guard{T}"/>
    public static void Guard(string path, string action, Action operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        Guard(path, action, () =>
        {
            operation();
            return true;
        });
    }

    /// <summary>
    /// Creates <paramref name="folder"/> (and its parents) for <paramref name="what"/> ("the staging folder"); a folder
    /// that cannot be created throws a <see cref="LocalFaultException"/> saying why: a full disk, a denied access, or
    /// a file where a folder is needed.
    /// </summary>
    public static void CreateFolder(string folder, string what)
    {
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var action = "creating " + what;
            var fault = Classify(e, folder, action);
            throw new LocalFaultException(fault.Kind == LocalFaultKind.StorageFailed
                ? new LocalFault(LocalFaultKind.FolderNotCreatable, folder, action, FolderBlocker(folder) is { } file ? $"'{file}' is a file, not a folder" : e.Message)
                : fault, e);
        }
    }

    /// <summary>
    /// Throws a disk-full fault before <paramref name="bytes"/> are written into <paramref name="folder"/> when its volume
    /// cannot hold them and still keep <see cref="StateReserveBytes"/> free: a transfer that would fill the disk fails
    /// before it takes the space other programs on the computer need.
    /// </summary>
    public static void EnsureRoom(string folder, long bytes, string action)
    {
        var needed = Math.Max(0, bytes) + StateReserveBytes;
        if (FreeSpace(folder) is { } free && free < needed)
        {
            throw new LocalFaultException(new LocalFault(LocalFaultKind.DiskFull, folder, action, $"{FormatBytes(StateReserveBytes)} of them kept free for the node's own state")
            {
                NeededBytes = needed,
                FreeBytes = free,
                Foreseen = true,
            });
        }
    }

    /// <summary>
    /// The fault of a program that could not be started (<paramref name="what"/>: "the install command"): missing,
    /// not executable, or not a program for this system.
    /// </summary>
    public static LocalFault ForStart(Win32Exception e, string command, string what)
    {
        ArgumentNullException.ThrowIfNull(e);
        LocalFault Fault(LocalFaultKind kind, string cause) => new(kind, command, what, cause);
        var missing = Fault(LocalFaultKind.CommandNotFound,
            command.IndexOfAny(['/', '\\']) < 0 ? "no such program on this computer's PATH" : "no such file");
        var denied = Fault(LocalFaultKind.CommandNotExecutable, $"it is not executable for the account '{Environment.UserName}'");
        var foreign = Fault(LocalFaultKind.CommandNotExecutable, "it is not a program this system can run");
        return OperatingSystem.IsWindows()
            ? e.NativeErrorCode switch
            {
                ErrorFileNotFound or ErrorPathNotFound => missing,
                ErrorAccessDenied => denied,
                ErrorBadExeFormat => foreign,
                _ => Fault(LocalFaultKind.CommandNotExecutable, e.Message),
            }
            : e.NativeErrorCode switch
            {
                ENoEnt => missing,
                EAcces => denied,
                ENoExec => foreign,
                _ => Fault(LocalFaultKind.CommandNotExecutable, e.Message),
            };
    }

    /// <summary>Bytes free to this account on the volume holding <paramref name="path"/> (or its nearest existing parent); null when unknown.</summary>
    public static long? FreeSpace(string path)
    {
        try
        {
            var existing = System.IO.Path.GetFullPath(path);
            while (!Directory.Exists(existing) && System.IO.Path.GetDirectoryName(existing) is { } parent)
            {
                existing = parent;
            }
            return new DriveInfo(existing).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The nearest existing ancestor of <paramref name="folder"/> when it is a file (which keeps the folder from being created).</summary>
    private static string? FolderBlocker(string folder)
    {
        for (var path = System.IO.Path.GetFullPath(folder); !string.IsNullOrEmpty(path); path = System.IO.Path.GetDirectoryName(path))
        {
            if (File.Exists(path))
            {
                return path;
            }
            if (Directory.Exists(path))
            {
                return null;
            }
        }
        return null;
    }

    /// <summary>The path .NET quotes in a file error's message ("… : '/path'" or "… path '/path' …"), for faults that reach a node unguarded.</summary>
    private static string? PathIn(string message)
    {
        var end = message.LastIndexOf('\'');
        var start = end > 0 ? message.LastIndexOf('\'', end - 1) : -1;
        return start >= 0 ? message[(start + 1)..end] : null;
    }
}

/// <summary>
/// A <see cref="LocalFault"/> thrown: deliberately not an <see cref="IOException"/>, which a node reads as a broken
/// connection to its higher system.
/// </summary>
public sealed class LocalFaultException(LocalFault fault, Exception? inner = null) : Exception(fault.Message, inner)
{
    public LocalFault Fault { get; } = fault;
}
