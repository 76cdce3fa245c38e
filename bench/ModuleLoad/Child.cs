using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using System.Text.Json;

namespace JP1Dist.Bench.ModuleLoad;

/// <summary>
/// One measurement in a fresh process: both halves of it, the parent that starts this executable again with a hidden
/// argument, and the child that hosts the PowerShell engine, imports the module, calls it twice and prints one JSON line.
/// </summary>
public static class Child
{
    public const string Argument = "--measure-one";
    public const string HomeArgument = "--home";
    public const string Manifest = "JP1Dist.psd1";
    private const string HomeVariable = "JP1DIST_HOME";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Starts a child on <paramref name="modulePath"/> with a new empty data folder, and returns what it measured.</summary>
    /// <exception cref="ChildFailedException">The child exited non-zero, timed out or printed no result.</exception>
    public static async Task<ChildResult> RunAsync(string modulePath, TimeSpan timeout)
    {
        // The parent owns the data folder and deletes it once the child has exited: by then every SQLite handle is
        // closed, which on Windows the child itself could not be sure of while its engine's connection pool is alive.
        var home = Path.Combine(Path.GetTempPath(), "jp1dist-moduleload-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        try
        {
            var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            // Started as 'dotnet JP1Dist.Bench.ModuleLoad.dll' rather than through the apphost: name the assembly again.
            if (string.Equals(Path.GetFileNameWithoutExtension(start.FileName), "dotnet", StringComparison.OrdinalIgnoreCase))
            {
                start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "JP1Dist.Bench.ModuleLoad.dll"));
            }
            foreach (var argument in new[] { Argument, modulePath, HomeArgument, home })
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new ChildFailedException("could not be started", string.Empty, string.Empty);
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                throw new ChildFailedException($"did not finish within {timeout.TotalSeconds:0} s and was killed", await stdout, await stderr);
            }

            var output = await stdout;
            var errors = await stderr;
            if (process.ExitCode != 0)
            {
                throw new ChildFailedException($"exited with code {process.ExitCode}", output, errors);
            }
            var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith('{'));
            ChildResult? result;
            try
            {
                result = line is null ? null : JsonSerializer.Deserialize<ChildResult>(line, Json);
            }
            catch (JsonException e)
            {
                throw new ChildFailedException("printed a result that does not parse: " + e.Message, output, errors);
            }
            if (result is null)
            {
                throw new ChildFailedException("exited with 0 but printed no result", output, errors);
            }
            if (errors.Length > 0)
            {
                // Not an error record (those fail the child), but nothing should be written there: pass it on to be seen.
                Console.Error.Write(errors);
            }
            return result;
        }
        finally
        {
            try
            {
                Directory.Delete(home, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"warning: could not delete the temporary data folder {home}: {e.Message}");
            }
        }
    }

    /// <summary>The child's side: measures one import of the module in this (fresh) process and prints the result.</summary>
    public static int Measure(string modulePath, string home)
    {
        try
        {
            // Set before the engine exists, as $env:JP1DIST_HOME = ... would in a session: the cmdlets read it at their first call.
            Environment.SetEnvironmentVariable(HomeVariable, home);
            var assemblies = new List<AssemblyCounts> { AssemblyCounts.Now("start") };
            // Started before the call on purpose: JIT-compiling MeasureEngine is what loads System.Management.Automation,
            // and that load is part of what the engine costs.
            var clock = Stopwatch.StartNew();
            var result = MeasureEngine(modulePath, clock, assemblies);
            Console.WriteLine(JsonSerializer.Serialize(result, Json));
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    // Kept out of Measure so that the engine's assemblies are not yet loaded when the "start" count is taken.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ChildResult MeasureEngine(string modulePath, Stopwatch clock, List<AssemblyCounts> assemblies)
    {
        var sessionState = InitialSessionState.CreateDefault2();
        // The module is unsigned and local; on Windows the default policy would refuse its ps1xml files. Elsewhere
        // execution policy does not exist and setting it throws.
        if (OperatingSystem.IsWindows())
        {
            sessionState.ExecutionPolicy = Microsoft.PowerShell.ExecutionPolicy.Bypass;
        }
        using var runspace = RunspaceFactory.CreateRunspace(sessionState);
        runspace.Open();
        var runspaceMs = clock.Elapsed.TotalMilliseconds;
        assemblies.Add(AssemblyCounts.Now("runspace"));

        var warnings = new List<string>();
        var importMs = Invoke(runspace, "import", s => s.AddCommand("Import-Module").AddParameter("Name", Path.Combine(modulePath, Manifest)), warnings);
        assemblies.Add(AssemblyCounts.Now("import"));
        // The first call opens the SQLite database in the empty data folder and creates its schema.
        var firstCallMs = Invoke(runspace, "first call", s => s.AddCommand("Get-DistPackage"), warnings);
        assemblies.Add(AssemblyCounts.Now("firstCall"));
        var secondCallMs = Invoke(runspace, "second call", s => s.AddCommand("Get-DistPackage"), warnings);
        assemblies.Add(AssemblyCounts.Now("secondCall"));

        using var self = Process.GetCurrentProcess();
        var engineVersion = typeof(PowerShell).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
            ?? typeof(PowerShell).Assembly.GetName().Version?.ToString() ?? "unknown";
        return new ChildResult(modulePath, engineVersion, runspaceMs, importMs, firstCallMs, secondCallMs, assemblies,
            self.PeakWorkingSet64, warnings);
    }

    /// <summary>Runs one command and returns its milliseconds; any error record, terminating or not, fails the child.</summary>
    private static double Invoke(Runspace runspace, string step, Action<PowerShell> add, List<string> warnings)
    {
        using var shell = PowerShell.Create(runspace);
        add(shell);
        var clock = Stopwatch.StartNew();
        shell.Invoke();
        var elapsed = clock.Elapsed.TotalMilliseconds;
        if (shell.HadErrors || shell.Streams.Error.Count > 0)
        {
            var records = shell.Streams.Error.Select(r => $"{r} ({r.FullyQualifiedErrorId}{(r.InvocationInfo?.PositionMessage is { Length: > 0 } p ? ", " + p : string.Empty)})");
            throw new InvalidOperationException($"{step} wrote errors:{Environment.NewLine}{string.Join(Environment.NewLine, records)}");
        }
        warnings.AddRange(shell.Streams.Warning.Select(w => $"{step}: {w.Message}"));
        return elapsed;
    }
}

/// <summary>What a child prints: the four step times in milliseconds, assembly counts after each step, and its peak working set.</summary>
public sealed record ChildResult(
    string Module,
    string EngineVersion,
    double RunspaceMs,
    double ImportMs,
    double FirstCallMs,
    double SecondCallMs,
    IReadOnlyList<AssemblyCounts> Assemblies,
    long PeakWorkingSetBytes,
    IReadOnlyList<string> Warnings);

/// <summary>
/// Assemblies in the process after a step: as the AppDomain lists them, and summed over every load context (the
/// module loads its dependencies into one of its own), with the number of load contexts.
/// </summary>
public sealed record AssemblyCounts(string After, int AppDomain, int LoadContexts, int InLoadContexts)
{
    public static AssemblyCounts Now(string after)
    {
        var contexts = AssemblyLoadContext.All.ToList();
        return new(after, System.AppDomain.CurrentDomain.GetAssemblies().Length, contexts.Count, contexts.Sum(c => c.Assemblies.Count()));
    }
}

/// <summary>A child that failed, with everything it wrote so the parent can show it.</summary>
public sealed class ChildFailedException(string message, string standardOutput, string standardError) : Exception(message)
{
    public string StandardOutput { get; } = standardOutput;
    public string StandardError { get; } = standardError;
}
