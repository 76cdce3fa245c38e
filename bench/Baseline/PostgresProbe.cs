namespace JP1Dist.Bench.Baseline;

/// <summary>One reading of a PostgreSQL server's processes: CPU used so far, proportional memory now, and how many processes.</summary>
public sealed record ClusterSample(DateTime At, double CpuSeconds, long PssKib, int Processes)
{
    /// <summary>The CPU used between two readings, in percent of one core.</summary>
    public static double CpuPercent(ClusterSample from, ClusterSample to) =>
        (to.CpuSeconds - from.CpuSeconds) / (to.At - from.At).TotalSeconds * 100;
}

/// <summary>
/// Reads a PostgreSQL server's processes from /proc (Linux), which the manager's own figures do not include: the postmaster
/// (its pid is the first line of postmaster.pid) and its children, one backend per connection plus the background
/// processes. CPU is the postmaster's own, its live children's, and that of the children that have ended (the postmaster's
/// cutime and cstime: it waits for every process it forks), so that connections closed between two readings still count.
/// Memory is the sum of the processes' proportional set sizes (Pss in /proc/PID/smaps_rollup), which counts the shared
/// buffers once, shared among the processes that touch them, where a sum of RSS would count them once per process.
/// </summary>
public static class PostgresProbe
{
    /// <summary>Reads the server of <paramref name="dataDirectory"/> now; throws when it does not run.</summary>
    public static ClusterSample Read(string dataDirectory)
    {
        var at = DateTime.UtcNow;
        var postmaster = int.Parse(File.ReadLines(Path.Combine(dataDirectory, "postmaster.pid")).First().Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var main = ManagerProbe.Stat(postmaster);
        var ticks = main.Field(14) + main.Field(15) + main.Field(16) + main.Field(17);
        var pss = Pss(postmaster) ?? 0;
        var processes = 1;
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var id) || id == postmaster)
            {
                continue;
            }
            try
            {
                var stat = ManagerProbe.Stat(id);
                if (stat.Field(4) != postmaster)
                {
                    continue;
                }
                var child = stat.Field(14) + stat.Field(15);
                if (Pss(id) is { } kib)
                {
                    ticks += child;
                    pss += kib;
                    processes++;
                }
            }
            catch (IOException)
            {
                // Ended between the listing and the reading: the postmaster's cutime/cstime counts it once it has been waited for.
            }
        }
        return new ClusterSample(at, ticks / ManagerProbe.TicksPerSecond, pss, processes);
    }

    private static long? Pss(int processId)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{processId}/smaps_rollup"))
            {
                if (line.StartsWith("Pss:", StringComparison.Ordinal))
                {
                    return ManagerProbe.Kib(line);
                }
            }
            return 0;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
