using System.Runtime;
using System.Runtime.InteropServices;

namespace JP1Dist.Bench.ModuleLoad;

/// <summary>The JSON document: every module measured in the run, and where.</summary>
public sealed record ModuleLoadReport(
    string Benchmark,
    string Build,
    int Runs,
    string Order,
    string EngineVersion,
    MachineFacts Machine,
    IReadOnlyList<ModuleReport> Modules);

/// <summary>One module folder: its size and its import figures over every run.</summary>
public sealed record ModuleReport(
    string Module,
    string Path,
    ModuleSize Size,
    StepTimes Milliseconds,
    IReadOnlyList<AssemblyCounts> Assemblies,
    Stats PeakWorkingSetBytes,
    IReadOnlyList<string> Warnings)
{
    public static ModuleReport From(string label, string path, ModuleSize size, IReadOnlyList<ChildResult> runs) => new(
        label,
        path,
        size,
        new StepTimes(
            Stats.Of(runs.Select(r => r.RunspaceMs)),
            Stats.Of(runs.Select(r => r.ImportMs)),
            Stats.Of(runs.Select(r => r.FirstCallMs)),
            Stats.Of(runs.Select(r => r.SecondCallMs))),
        // The counts should not vary between runs; the median keeps one odd run from standing for the module.
        runs[0].Assemblies.Select((step, i) => new AssemblyCounts(
            step.After,
            MedianOf(runs.Select(r => r.Assemblies[i].AppDomain)),
            MedianOf(runs.Select(r => r.Assemblies[i].LoadContexts)),
            MedianOf(runs.Select(r => r.Assemblies[i].InLoadContexts)))).ToList(),
        Stats.Of(runs.Select(r => (double)r.PeakWorkingSetBytes)),
        runs.SelectMany(r => r.Warnings).Distinct(StringComparer.Ordinal).ToList());

    private static int MedianOf(IEnumerable<int> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}

/// <summary>The four timed steps: opening a runspace (the engine's own cost, the reference), the import, and two calls.</summary>
public sealed record StepTimes(Stats Runspace, Stats Import, Stats FirstCall, Stats SecondCall);

/// <summary>Median, min and max of one figure over the runs, with the samples in run order.</summary>
public sealed record Stats(double Median, double Min, double Max, IReadOnlyList<double> Samples)
{
    public static Stats Of(IEnumerable<double> values)
    {
        var samples = values.Select(v => Math.Round(v, 1)).ToList();
        var sorted = samples.Order().ToList();
        var middle = sorted.Count / 2;
        var median = sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new(Math.Round(median, 2), sorted[0], sorted[^1], samples);
    }
}

/// <summary>A module folder on disk: all of it, and the native libraries under Dependencies/runtimes by runtime identifier.</summary>
public sealed record ModuleSize(long TotalBytes, int Files, long RuntimesBytes, int RuntimesFiles, IReadOnlyList<string> RuntimeIdentifiers)
{
    public static ModuleSize Measure(string folder)
    {
        var all = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Select(f => new FileInfo(f).Length).ToList();
        var runtimes = Path.Combine(folder, "Dependencies", "runtimes");
        if (!Directory.Exists(runtimes))
        {
            return new(all.Sum(), all.Count, 0, 0, []);
        }
        var native = Directory.EnumerateFiles(runtimes, "*", SearchOption.AllDirectories).Select(f => new FileInfo(f).Length).ToList();
        var identifiers = Directory.EnumerateDirectories(runtimes).Select(d => System.IO.Path.GetFileName(d)).Order(StringComparer.Ordinal).ToList();
        return new(all.Sum(), all.Count, native.Sum(), native.Count, identifiers);
    }
}

/// <summary>Where the figures were measured, including how busy the machine was when the run ended.</summary>
public sealed record MachineFacts(int ProcessorCount, string OS, string Framework, string Architecture, bool ServerGc, string? LoadAverage)
{
    public static MachineFacts Current() => new(
        Environment.ProcessorCount,
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        RuntimeInformation.ProcessArchitecture.ToString(),
        GCSettings.IsServerGC,
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : null);
}
