using System.Diagnostics;
using JP1Dist.Agent;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A small file system of its own (a tmpfs of a few MiB mounted on a folder), so a test can fill a disk for real. Needs
/// Linux and the right to mount (root, or CAP_SYS_ADMIN); <see cref="SmallVolumeFactAttribute"/> skips a test where
/// that is missing, saying so. Unmounted on dispose, lazily when something still holds a file there.
/// </summary>
public sealed class SmallVolume : IDisposable
{
    private SmallVolume(string path) => Path = path;

    /// <summary>The mounted folder.</summary>
    public string Path { get; }

    /// <summary>Mounts a tmpfs of <paramref name="bytes"/> on <paramref name="folder"/> (created if needed).</summary>
    public static SmallVolume Mount(string folder, long bytes)
    {
        Directory.CreateDirectory(folder);
        Run("mount", "-t", "tmpfs", "-o", $"size={bytes},mode=0700", "tmpfs", folder);
        return new SmallVolume(folder);
    }

    /// <summary>Bytes free on the volume now.</summary>
    public long Free => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Writes a file until the volume refuses more (ENOSPC); returns its path.</summary>
    public string Fill(string name = "filler.bin")
    {
        var path = System.IO.Path.Combine(Path, name);
        var chunk = new byte[64 * 1024];
        // Unbuffered: every write reaches the file system, and disposing has nothing left to flush onto a full disk.
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        try
        {
            while (true)
            {
                file.Write(chunk);
            }
        }
        catch (IOException e) when (LocalFault.IsDiskFull(e))
        {
            return path;
        }
    }

    public void Dispose()
    {
        if (!TryRun("umount", Path))
        {
            TryRun("umount", "-l", Path); // a process that outlived the test still holds a file: detach now, freed when it lets go
        }
    }

    /// <summary>Why a small volume cannot be mounted here, or null when it can (tried once, on a scratch folder).</summary>
    public static string? Unavailable => Probe.Value;

    private static readonly Lazy<string?> Probe = new(() =>
    {
        if (!OperatingSystem.IsLinux())
        {
            return "a tmpfs is mounted with Linux's mount(8)";
        }
        var folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "jp1dist-volume-probe-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using (Mount(folder, 64 * 1024))
            {
            }
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return $"mounting a tmpfs needs root or CAP_SYS_ADMIN, which this test run lacks ({e.Message.Trim()})";
        }
        finally
        {
            try
            {
                Directory.Delete(folder);
            }
            catch (IOException)
            {
            }
        }
    });

    private static void Run(string program, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}");
        }
    }

    private static bool TryRun(string program, params string[] arguments)
    {
        try
        {
            Run(program, arguments);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

/// <summary>A test that fills a <see cref="SmallVolume"/>: skipped, with the reason, where none can be mounted.</summary>
public sealed class SmallVolumeFactAttribute : FactAttribute
{
    public SmallVolumeFactAttribute()
    {
        if (SmallVolume.Unavailable is { } reason)
        {
            Skip = reason;
        }
    }
}
