using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace JP1Dist.Agent;

/// <summary>
/// Writes that bypass the page cache (Linux O_DIRECT), for the segments of a transfer. Copying a gigabyte into the page
/// cache costs more CPU than receiving and hashing it (docs/benchmarks.md), and a package that goes on to an installer
/// or a relay's clients has no use for a second copy in memory. Such writes need block-aligned buffers, offsets and
/// lengths: <see cref="AlignedBuffer"/> gives the buffers, and a caller turns the mode off (<see cref="TryDisable"/>)
/// before a write that is not aligned, such as a file's last, shorter segment. Other systems, and file systems that
/// refuse the mode, keep ordinary writes.
/// </summary>
public static partial class UnbufferedWrites
{
    /// <summary>The alignment asked of buffers, offsets and lengths: a 4 KiB page covers every common block size.</summary>
    public const int Alignment = 4096;

    private const int GetFlags = 3;
    private const int SetFlags = 4;

    /// <summary>O_DIRECT differs between architectures; null where it is not known here.</summary>
    private static int? DirectFlag => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => null,
    };

    /// <summary>A buffer of <paramref name="size"/> bytes that starts on an <see cref="Alignment"/> boundary (pinned, so it stays there).</summary>
    public static Memory<byte> AlignedBuffer(int size)
    {
        var array = GC.AllocateUninitializedArray<byte>(size + Alignment, pinned: true);
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        var skip = (int)((Alignment - (address.ToInt64() & (Alignment - 1))) & (Alignment - 1));
        return array.AsMemory(skip, size);
    }

    /// <summary>Turns unbuffered writes on for an open file; false where the system or file system does not offer them.</summary>
    public static bool TryEnable(SafeFileHandle file) => Change(file, on: true);

    /// <summary>Turns unbuffered writes off again (before a write that is not aligned); false when that failed.</summary>
    public static bool TryDisable(SafeFileHandle file) => Change(file, on: false);

    private static bool Change(SafeFileHandle file, bool on)
    {
        if (!OperatingSystem.IsLinux() || DirectFlag is not { } direct || file.IsInvalid || file.IsClosed)
        {
            return false;
        }
        var descriptor = (int)file.DangerousGetHandle();
        var flags = Fcntl(descriptor, GetFlags, 0);
        if (flags < 0)
        {
            return false;
        }
        return Fcntl(descriptor, SetFlags, on ? flags | direct : flags & ~direct) == 0;
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int descriptor, int command, int argument);
}
