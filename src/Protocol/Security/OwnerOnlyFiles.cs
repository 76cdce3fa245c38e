using System.Security.AccessControl;
using System.Security.Principal;

namespace JP1Dist.Protocol.Security;

/// <summary>
/// Files that hold a secret (an agent's credential, a relay's store of credential hashes, a node's TLS private key): readable
/// and writable by their owner only. On Unix mode 0600, given when the file is created (so there is no moment when another
/// user could open it); on Windows an access list with only the current user, SYSTEM and Administrators, not inherited
/// from the folder.
/// </summary>
public static class OwnerOnlyFiles
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Writes <paramref name="contents"/> to a new temporary file that is owner-only from its creation, then moves it onto
    /// <paramref name="path"/>. Without <paramref name="overwrite"/> an existing file is kept (someone else wrote it first)
    /// and false is returned.
    /// </summary>
    public static bool Write(string path, ReadOnlySpan<byte> contents, bool overwrite)
    {
        var temporary = path + "." + Guid.NewGuid().ToString("N")[..12] + ".tmp";
        using (var stream = CreateNew(temporary))
        {
            stream.Write(contents);
            stream.Flush(flushToDisk: true);
        }
        if (overwrite)
        {
            File.Move(temporary, path, overwrite: true);
            return true;
        }
        // "Only if absent" must be one step for every writer, in this process and others. File.Move without overwrite is
        // not that everywhere (on Unix it falls back to an existence check and rename where hard links are refused), so
        // the check and the move are made under an exclusive lock on a companion file.
        using (HoldLock(path))
        {
            if (File.Exists(path))
            {
                File.Delete(temporary);
                return false;
            }
            File.Move(temporary, path, overwrite: true);
            return true;
        }
    }

    /// <summary>
    /// An exclusive lock on <c>.NAME.lock</c> beside the file (an empty, hidden file left in place: removing it would let a
    /// later writer lock another file of the same name), waited for up to 30 s.
    /// </summary>
    private static FileStream HoldLock(string path)
    {
        var lockPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetFileName(path) + ".lock");
        var deadline = Environment.TickCount64 + 30_000;
        while (true)
        {
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (Environment.TickCount64 < deadline)
            {
                Thread.Sleep(10);
            }
        }
    }

    /// <summary>Writes text (UTF-8) the same way as <see cref="Write(string, ReadOnlySpan{byte}, bool)"/>.</summary>
    public static bool WriteText(string path, string contents, bool overwrite) =>
        Write(path, System.Text.Encoding.UTF8.GetBytes(contents), overwrite);

    /// <summary>Creates a new, empty file that is owner-only from the start; fails when it exists.</summary>
    public static FileStream CreateNew(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return new FileInfo(path).Create(FileMode.CreateNew, FileSystemRights.Read | FileSystemRights.Write | FileSystemRights.Delete,
                FileShare.None, 4096, FileOptions.None, OwnerOnlySecurity());
        }
        return new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            UnixCreateMode = OwnerReadWrite,
        });
    }

    /// <summary>Narrows an existing file to its owner (a file written by an earlier version, or copied in); true when it changed.</summary>
    public static bool Tighten(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }
        if (OperatingSystem.IsWindows())
        {
            // Comparing access lists rule by rule is not worth it: setting the owner-only list again is cheap and idempotent.
            new FileInfo(path).SetAccessControl(OwnerOnlySecurity());
            return true;
        }
        var mode = File.GetUnixFileMode(path);
        if ((mode & ~OwnerReadWrite) == 0)
        {
            return false;
        }
        File.SetUnixFileMode(path, mode & OwnerReadWrite);
        return true;
    }

    /// <summary>Whether only the owner may read or write the file (on Unix: no group or other bits).</summary>
    public static bool IsOwnerOnly(string path) =>
        OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & ~(OwnerReadWrite | UnixFileMode.UserExecute)) == 0;

    [System.Runtime.Versioning.SupportedOSPlatform("windows")]
    private static FileSecurity OwnerOnlySecurity()
    {
        var security = new FileSecurity();
        security.SetAccessRuleProtection(isProtected: true, preserveInheritance: false);
        var user = WindowsIdentity.GetCurrent().User ?? throw new InvalidOperationException("The current Windows user has no security identifier.");
        security.SetOwner(user);
        foreach (var sid in new[] { user, new SecurityIdentifier(WellKnownSidType.LocalSystemSid, null), new SecurityIdentifier(WellKnownSidType.BuiltinAdministratorsSid, null) })
        {
            security.AddAccessRule(new FileSystemAccessRule(sid, FileSystemRights.FullControl, AccessControlType.Allow));
        }
        return security;
    }
}
