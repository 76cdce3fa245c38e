using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Pester;

/// <summary>Runs each tests/Pester/*.Tests.ps1 file through JP1Dist.PesterHost; one test case per file.</summary>
public sealed class PesterFilesTests(ITestOutputHelper output)
{
    internal static readonly TimeSpan FileTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The Pester files, by file name so each one shows up as its own test case.</summary>
    public static TheoryData<string> Files
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var file in Directory.GetFiles(PesterDirectory, "*.Tests.ps1").Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetFileName(file));
            }

            return data;
        }
    }

    private static string RepoRoot => Repository.Root;

    internal static string PesterDirectory => Path.Combine(RepoRoot, "tests", "Pester");

    /// <summary>Runs one Pester file in a child process and fails with every failed It when it does not pass.</summary>
    [SkippableTheory]
    [MemberData(nameof(Files))]
    public async Task PesterFile(string file)
    {
        var home = Path.Combine(Path.GetTempPath(), "jp1dist-pester-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(home);
        try
        {
            // Each file gets its own product home so files cannot see each other's state; on PostgreSQL its own database
            // too, through the variable the cmdlets and every manager the file starts read.
            var environment = new Dictionary<string, string>();
            if (TestDatabase.NewDatabaseSetting() is { } database)
            {
                environment[Core.Storage.DatabaseSettings.Variable] = database;
            }
            await RunFileAsync(output, file, home, Path.Combine(home, "pester-result.json"), environment);
        }
        finally
        {
            TryDelete(home);
        }
    }

    /// <summary>
    /// Runs one Pester file in a child JP1Dist.PesterHost process with <paramref name="home"/> as its JP1DIST_HOME and the
    /// variables given; fails with every failed It, and writes the skipped ones with their reasons.
    /// </summary>
    internal static async Task RunFileAsync(ITestOutputHelper output, string file, string home, string resultFile, IReadOnlyDictionary<string, string> environment)
    {
        var hostDll = FindPesterHost();
        var (exitCode, stdout, stderr, timedOut) = await RunHostAsync(hostDll, Path.Combine(PesterDirectory, file), resultFile, home, environment);
        output.WriteLine(stdout);
        if (stderr.Length > 0)
        {
            output.WriteLine("--- stderr ---");
            output.WriteLine(stderr);
        }

        Assert.False(timedOut, $"{file} did not finish within {FileTimeout.TotalMinutes} minutes; the process tree was killed.");
        if (exitCode != 0)
        {
            Assert.Fail($"{file} failed (exit code {exitCode}):{Environment.NewLine}{DescribeFailures(resultFile, stdout, stderr)}");
        }

        // One test case stands for the file's Its: say how many ran and were skipped, and never pass a file none of whose Its ran.
        var tests = ReadResults(resultFile).Where(r => r.Kind == "Test").ToList();
        var skipped = tests.Where(t => t.Result == "Skipped").ToList();
        output.WriteLine($"{file}: {tests.Count(t => t.Result == "Passed")} passed, {tests.Count(t => t.Result == "Failed")} failed, {skipped.Count} skipped");
        if (tests.Count == 0)
        {
            Assert.Fail($"{file} has no It.");
        }
        if (skipped.Count == tests.Count)
        {
            throw new SkipException($"Every It of {file} was skipped: " + string.Join("; ", skipped.Select(t => $"{string.Join(" > ", t.Path)} ({t.Message ?? "-Skip"})")));
        }
    }

    private static List<(IReadOnlyList<string> Path, string Result, string? Message, string Kind)> ReadResults(string resultFile)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(resultFile));
        return document.RootElement.EnumerateArray()
            .Select(e => ((IReadOnlyList<string>)e.GetProperty("path").EnumerateArray().Select(p => p.GetString()!).ToList(), e.GetProperty("result").GetString()!,
                e.GetProperty("message").GetString(), e.GetProperty("kind").GetString()!))
            .ToList();
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr, bool TimedOut)> RunHostAsync(string hostDll, string testFile, string resultFile, string home, IReadOnlyDictionary<string, string> environment)
    {
        // dotnet test exports the path of the muxer it runs under; fall back to PATH when started some other way.
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath) ? hostPath : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoRoot,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(hostDll);
        start.ArgumentList.Add(testFile);
        start.ArgumentList.Add("--result");
        start.ArgumentList.Add(resultFile);

        start.Environment["JP1DIST_HOME"] = home;
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start " + dotnet);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(FileTimeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        return (process.ExitCode, await stdout, await stderr, timedOut);
    }

    private static string DescribeFailures(string resultFile, string stdout, string stderr)
    {
        if (!File.Exists(resultFile))
        {
            return "No result file was written." + Environment.NewLine + stdout + stderr;
        }

        using var document = JsonDocument.Parse(File.ReadAllText(resultFile));
        var text = new StringBuilder();
        foreach (var entry in document.RootElement.EnumerateArray())
        {
            if (entry.GetProperty("result").GetString() != "Failed")
            {
                continue;
            }

            var path = string.Join(" > ", entry.GetProperty("path").EnumerateArray().Select(p => p.GetString()));
            var kind = entry.GetProperty("kind").GetString() == "Block" ? " (block)" : string.Empty;
            text.AppendLine($"[-] {path}{kind}");
            foreach (var property in new[] { "message", "location" })
            {
                if (entry.GetProperty(property).GetString() is { Length: > 0 } value)
                {
                    foreach (var line in value.Split('\n'))
                    {
                        text.AppendLine("    " + line.TrimEnd('\r'));
                    }
                }
            }
        }

        return text.Length > 0 ? text.ToString() : "No failed test was recorded; see the output." + Environment.NewLine + stdout + stderr;
    }

    private static string FindPesterHost()
    {
        var relative = typeof(PesterFilesTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "PesterHostOutput").Value!;
        var dll = Path.Combine(RepoRoot, relative, "JP1Dist.PesterHost.dll");
        Assert.True(File.Exists(dll), $"JP1Dist.PesterHost.dll not found at {dll}; build tests/Unit (it references the host project).");
        return dll;
    }

    internal static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A test that leaves a locked file behind must not turn a pass into a failure; the OS cleans temp.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
