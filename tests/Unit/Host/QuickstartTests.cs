using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>The README's first command: the quick start runs to completion in the PowerShell engine jp1dist hosts.</summary>
public sealed class QuickstartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Quickstart_runs_through_jp1dist_run()
    {
        var root = Repository.Root;
        var exe = Path.Combine(root, "out", "jp1dist", OperatingSystem.IsWindows() ? "jp1dist.exe" : "jp1dist");
        var start = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var argument in new[] { "run", Path.Combine(root, "examples", "quickstart.ps1"), "-Agents", "2" })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("The quick start did not finish within 5 minutes.");
        }
        output.WriteLine(await stdout);
        output.WriteLine(await stderr);
        Assert.Equal(0, process.ExitCode);
        Assert.Contains("Quick start complete", await stdout, StringComparison.Ordinal);
        Assert.Contains("Failed", await stdout, StringComparison.Ordinal); // the status table showed the failure before the re-execution
    }
}
