using System.Globalization;
using System.Runtime.InteropServices;

namespace JP1Dist.Bench.Baseline;

/// <summary>One reading of a process from /proc (Linux): CPU time used so far, resident memory now and at its peak, threads and open descriptors.</summary>
public sealed record ProcessSample(DateTime At, double CpuSeconds, long RssKib, long PeakRssKib, int Threads, int FileDescriptors)
{
    /// <summary>The CPU used between two readings, in percent of one core.</summary>
    public static double CpuPercent(ProcessSample from, ProcessSample to) =>
        (to.CpuSeconds - from.CpuSeconds) / (to.At - from.At).TotalSeconds * 100;
}

/// <summary>Reads /proc/PID/stat (utime + stime) and /proc/PID/status (VmRSS, VmHWM, Threads) of another process.</summary>
public static class ManagerProbe
{
    private const int ClockTicksName = 2; // _SC_CLK_TCK on Linux

    [DllImport("libc", EntryPoint = "sysconf")]
    private static extern long SysConf(int name);

    private static readonly double TicksPerSecond = OperatingSystem.IsLinux() ? SysConf(ClockTicksName) : 100;

    /// <summary>Whether this system has /proc to read; the resource figures are null where it has not.</summary>
    public static bool Available => OperatingSystem.IsLinux();

    /// <summary>Reads the process now; throws when it is gone.</summary>
    public static ProcessSample Read(int processId)
    {
        var at = DateTime.UtcNow;
        // Fields after the command name (which may hold spaces, so split after its closing parenthesis): state is field 3,
        // utime field 14 and stime field 15 (proc(5)).
        var stat = File.ReadAllText($"/proc/{processId}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[14 - 3], CultureInfo.InvariantCulture) + long.Parse(fields[15 - 3], CultureInfo.InvariantCulture);
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
        return new ProcessSample(at, ticks / TicksPerSecond, rss, peak, threads, descriptors);
    }

    private static long Kib(string line) =>
        long.Parse(line[(line.IndexOf(':') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
}
