using System.Globalization;
using System.Runtime.InteropServices;

namespace JP1Dist.Bench.Baseline;

/// <summary>
/// One reading of a process from /proc (Linux): CPU time used so far (and the part of it in the kernel: system calls,
/// the network stack), resident memory now and at its peak, threads and open descriptors.
/// </summary>
public sealed record ProcessSample(DateTime At, double CpuSeconds, long RssKib, long PeakRssKib, int Threads, int FileDescriptors, double KernelCpuSeconds = 0)
{
    /// <summary>The CPU used between two readings, in percent of one core.</summary>
    public static double CpuPercent(ProcessSample from, ProcessSample to) =>
        (to.CpuSeconds - from.CpuSeconds) / (to.At - from.At).TotalSeconds * 100;

    /// <summary>The part of <see cref="CpuPercent"/> spent in the kernel.</summary>
    public static double KernelCpuPercent(ProcessSample from, ProcessSample to) =>
        (to.KernelCpuSeconds - from.KernelCpuSeconds) / (to.At - from.At).TotalSeconds * 100;
}

/// <summary>Reads /proc/PID/stat (utime + stime) and /proc/PID/status (VmRSS, VmHWM, Threads) of another process.</summary>
public static class ManagerProbe
{
    private const int ClockTicksName = 2; // _SC_CLK_TCK on Linux

    [DllImport("libc", EntryPoint = "sysconf")]
    private static extern long SysConf(int name);

    /// <summary>The unit of the CPU times in /proc/PID/stat.</summary>
    internal static readonly double TicksPerSecond = OperatingSystem.IsLinux() ? SysConf(ClockTicksName) : 100;

    /// <summary>Whether this system has /proc to read; the resource figures are null where it has not.</summary>
    public static bool Available => OperatingSystem.IsLinux();

    /// <summary>Reads the process now; throws when it is gone.</summary>
    public static ProcessSample Read(int processId)
    {
        var at = DateTime.UtcNow;
        var stat = Stat(processId);
        var ticks = stat.Field(14) + stat.Field(15); // utime, stime
        var kernelTicks = stat.Field(15);
        long rss = 0, peak = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{processId}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kib(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kib(line);
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line["Threads:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }
        var descriptors = Directory.EnumerateFileSystemEntries($"/proc/{processId}/fd").Count();
        return new ProcessSample(at, ticks / TicksPerSecond, rss, peak, threads, descriptors, kernelTicks / TicksPerSecond);
    }

    /// <summary>/proc/PID/stat of a process; throws an IOException when it is gone.</summary>
    internal static StatLine Stat(int processId)
    {
        // Fields after the command name (which may hold spaces, so split after its closing parenthesis) start at field 3, the state.
        var stat = File.ReadAllText($"/proc/{processId}/stat");
        return new StatLine(stat[(stat.LastIndexOf(')') + 2)..].Split(' '));
    }

    /// <summary>The fields of a /proc/PID/stat line, by their numbers in proc(5) (4 the parent, 14 and 15 utime and stime, 16 and 17 those of waited-for children).</summary>
    internal readonly record struct StatLine(string[] FieldsFromState)
    {
        public long Field(int number) => long.Parse(FieldsFromState[number - 3], CultureInfo.InvariantCulture);
    }

    internal static long Kib(string line) =>
        long.Parse(line[(line.IndexOf(':') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
}
