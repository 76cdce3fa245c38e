using System.Globalization;
using System.Text.Json;
using JP1Dist.Bench.ModuleLoad;

// The module-load benchmark: what a PowerShell session pays for the JP1Dist module, its folder size and its import
// time, for one or more builds of it. Every measurement runs in a fresh child process (this executable with a hidden
// argument), because an assembly once loaded cannot be unloaded: a second import in the same process would be free.
// Progress goes to stderr; stdout carries only the JSON document and the one-line summary.

if (args is [Child.Argument, var childModule, Child.HomeArgument, var childHome])
{
    return Child.Measure(childModule, childHome);
}

const string usage = "usage: JP1Dist.Bench.ModuleLoad [--module PATH]... [--runs N]   (default: out/JP1Dist of the repository, 7 runs)";
var modulePaths = new List<string>();
var runs = 7;
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : null;
    switch (args[i])
    {
        case "--module" when value is not null:
            modulePaths.Add(Path.GetFullPath(value));
            i++;
            break;
        case "--runs" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0:
            runs = n;
            i++;
            break;
        default:
            Console.Error.WriteLine($"Cannot use '{args[i]}'{(value is null ? string.Empty : $" '{value}'")}. {usage}");
            return 2;
    }
}

var root = FindRepositoryRoot();
if (modulePaths.Count == 0)
{
    if (root is null)
    {
        Console.Error.WriteLine($"No JP1Dist.sln above the current folder or this program, so no default module; name one with --module. {usage}");
        return 2;
    }
    modulePaths.Add(Path.Combine(root, "out", "JP1Dist"));
}
if (modulePaths.Distinct(StringComparer.Ordinal).Count() != modulePaths.Count)
{
    Console.Error.WriteLine("The same module folder is named twice.");
    return 2;
}
foreach (var path in modulePaths.Where(p => !File.Exists(Path.Combine(p, Child.Manifest))))
{
    Console.Error.WriteLine($"'{path}' holds no {Child.Manifest}: build the module first (dotnet build JP1Dist.sln) or name its folder with --module.");
    return 2;
}

var labels = modulePaths.Select(p => Label(p, root)).ToList();
var sizes = modulePaths.Select(ModuleSize.Measure).ToList();
var samples = modulePaths.Select(_ => new List<ChildResult>()).ToList();

// Interleaved run by run (A, B, A, B, ...) so that load from elsewhere on the machine falls on every build alike.
for (var run = 1; run <= runs; run++)
{
    for (var m = 0; m < modulePaths.Count; m++)
    {
        Console.Error.WriteLine($"run {run}/{runs}: {labels[m]}");
        try
        {
            samples[m].Add(await Child.RunAsync(modulePaths[m], TimeSpan.FromMinutes(5)));
        }
        catch (ChildFailedException e)
        {
            // A failed child ends the benchmark: figures from a module that did not load are not figures.
            Console.Error.WriteLine($"ModuleLoad FAILED: {labels[m]}, run {run}: {e.Message}");
            Console.Error.WriteLine("--- child stdout ---");
            Console.Error.WriteLine(e.StandardOutput.TrimEnd());
            Console.Error.WriteLine("--- child stderr ---");
            Console.Error.WriteLine(e.StandardError.TrimEnd());
            return 1;
        }
    }
}

#if DEBUG
const string build = "Debug";
#else
const string build = "Release";
#endif
var modules = modulePaths.Select((p, m) => ModuleReport.From(labels[m], p, sizes[m], samples[m])).ToList();
var report = new ModuleLoadReport("ModuleLoad: module size and import time", build, runs, "interleaved",
    samples[0][0].EngineVersion, MachineFacts.Current(), modules);
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
Console.WriteLine("ModuleLoad: " + string.Join("; ", modules.Select(Summarize)));
return 0;

static string Summarize(ModuleReport m) => string.Create(CultureInfo.InvariantCulture,
    $"{m.Module} {m.Size.TotalBytes / 1048576.0:0.0} MB, import {m.Milliseconds.Import.Median:0} ms (runspace {m.Milliseconds.Runspace.Median:0} ms), first call {m.Milliseconds.FirstCall.Median:0} ms, warm call {m.Milliseconds.SecondCall.Median:0} ms");

// Inside the repository a module is named as from its root (out/JP1Dist), so summaries read the same from any folder.
static string Label(string path, string? root)
{
    if (root is null)
    {
        return path;
    }
    var relative = Path.GetRelativePath(root, path);
    return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? path : relative.Replace('\\', '/');
}

static string? FindRepositoryRoot()
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
    {
        for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "JP1Dist.sln")))
            {
                return folder.FullName;
            }
        }
    }
    return null;
}
