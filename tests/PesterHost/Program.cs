using System.Management.Automation;
using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using System.Text.Json;
using JP1Dist.PesterHost;

// Runs one Pester 5 test file through PesterShim.psm1 inside an in-process PowerShell engine.
// Exit codes: 0 all passed, 1 a test failed, 2 file-level error (usage, parse, discovery, BeforeAll/AfterAll).
if (!TryParseArguments(args, out var testFile, out var resultFile))
{
    Console.Error.WriteLine("Usage: dotnet JP1Dist.PesterHost.dll <file.Tests.ps1> [--result <result.json>]");
    return 2;
}

testFile = Path.GetFullPath(testFile);
var sink = new ResultSink();
int exitCode;
if (!File.Exists(testFile))
{
    sink.Report([Path.GetFileName(testFile)], "Failed", $"Test file '{testFile}' does not exist.", null, 0, "Block");
    exitCode = 2;
}
else
{
    Console.Out.WriteLine($"Running {testFile}");
    var started = System.Diagnostics.Stopwatch.StartNew();
    exitCode = Run(testFile, sink);
    var counts = sink.Results.Where(r => r.Kind == "Test").GroupBy(r => r.Result).ToDictionary(g => g.Key, g => g.Count());
    Console.Out.WriteLine(
        $"Tests completed in {started.ElapsedMilliseconds} ms: Passed {counts.GetValueOrDefault("Passed")}, Failed {counts.GetValueOrDefault("Failed")}, Skipped {counts.GetValueOrDefault("Skipped")}"
        + (sink.AnyBlockFailed ? ", with block-level errors" : string.Empty));
}

if (resultFile is not null)
{
    var directory = Path.GetDirectoryName(Path.GetFullPath(resultFile));
    if (!string.IsNullOrEmpty(directory))
    {
        Directory.CreateDirectory(directory);
    }

    File.WriteAllText(resultFile, JsonSerializer.Serialize(sink.Results, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
}

return exitCode;

static int Run(string testFile, ResultSink sink)
{
    // Parse first so syntax errors are reported with their positions instead of as a generic discovery failure.
    Parser.ParseFile(testFile, out _, out var parseErrors);
    if (parseErrors.Length > 0)
    {
        foreach (var error in parseErrors)
        {
            sink.Report([Path.GetFileName(testFile)], "Failed", "Parse error: " + error.Message, $"at {error.Extent.File}:{error.Extent.StartLineNumber}", 0, "Block");
        }

        return 2;
    }

    var sessionState = InitialSessionState.CreateDefault2();

    // The Utility and Management cmdlets pwsh has (Get-Date, Select-Object, Export-Csv, Get-Content...), so that what a test
    // runs as a user would (the help's examples) finds them here too; the engine package alone ships only the Core module.
    sessionState.ImportPSModule(
        typeof(Microsoft.PowerShell.Commands.GetDateCommand).Assembly.Location,
        typeof(Microsoft.PowerShell.Commands.GetContentCommand).Assembly.Location);

    // Tests and the product module are unsigned local scripts; on Windows the default policy would refuse them.
    // Elsewhere execution policy does not exist and setting it throws PlatformNotSupportedException.
    if (OperatingSystem.IsWindows())
    {
        sessionState.ExecutionPolicy = Microsoft.PowerShell.ExecutionPolicy.Bypass;
    }
    using var runspace = RunspaceFactory.CreateRunspace(new ConsoleHost(), sessionState);
    runspace.Open();
    using var shell = PowerShell.Create(runspace);
    AttachStreamPrinters(shell.Streams);

    var shimPath = Path.Combine(AppContext.BaseDirectory, "PesterShim.psm1");

    // The invoker scriptblock is defined here, at top level, so it is bound to the user's (global) session state:
    // the shim calls it to open a new user scope, which is how BeforeAll variables reach It blocks as in Pester.
    shell.AddScript(
        """
        param($ShimPath, $TestFile, $Sink)
        Import-Module -Name $ShimPath -Global
        $null = Invoke-PesterShimFile -Path $TestFile -Sink $Sink -Invoker {
            param($__PesterShimAction, $__PesterShimArgument)
            if ($__PesterShimAction -is [string]) { & $__PesterShimAction } else { & $__PesterShimAction $__PesterShimArgument }
        }
        """);
    shell.AddParameter("ShimPath", shimPath).AddParameter("TestFile", testFile).AddParameter("Sink", sink);
    try
    {
        shell.Invoke();
    }
    catch (RuntimeException ex)
    {
        sink.Report([Path.GetFileName(testFile)], "Failed", "Test runner failed: " + ex.Message, ex.ErrorRecord?.InvocationInfo?.PositionMessage, 0, "Block");
    }

    if (sink.AnyBlockFailed)
    {
        return 2;
    }

    return sink.AnyTestFailed ? 1 : 0;
}

static void AttachStreamPrinters(PSDataStreams streams)
{
    // Printed as they arrive so test output interleaves with the progress lines.
    streams.Error.DataAdded += (s, e) => Console.Out.WriteLine("ERROR: " + Describe(((PSDataCollection<ErrorRecord>)s!)[e.Index]));
    // Warning, verbose, debug and information records are not hooked: ConsoleHost shows them as the engine hands them over.
}

static string Describe(ErrorRecord record)
{
    var position = record.InvocationInfo?.ScriptName is { Length: > 0 } script ? $" (at {script}:{record.InvocationInfo.ScriptLineNumber})" : string.Empty;
    return record + position;
}

static bool TryParseArguments(string[] args, out string testFile, out string? resultFile)
{
    testFile = string.Empty;
    resultFile = null;
    for (var i = 0; i < args.Length; i++)
    {
        if (args[i] == "--result" && i + 1 < args.Length)
        {
            resultFile = args[++i];
        }
        else if (args[i].StartsWith("--", StringComparison.Ordinal) || testFile.Length > 0)
        {
            return false;
        }
        else
        {
            testFile = args[i];
        }
    }

    return testFile.Length > 0;
}
