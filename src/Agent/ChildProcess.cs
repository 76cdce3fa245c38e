using System.ComponentModel;
using System.Diagnostics;

namespace JP1Dist.Agent;

/// <summary>How a child program ended: not started (the fault: missing, not executable), stopped at its time limit, or its exit code.</summary>
public sealed record ChildOutcome(LocalFault? StartFault, bool TimedOut, int? ExitCode);

/// <summary>
/// Runs a program the agent starts (an install command, a condition's check program): an argument list with no
/// shell in between, output lines handed to a callback, and a time limit after which the whole process tree is killed.
/// </summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="start"/>; <paramref name="what"/> ("the install command") names it in a start fault.</summary>
    public static async Task<ChildOutcome> RunAsync(ProcessStartInfo start, string what, TimeSpan limit, Action<string?>? onLine, CancellationToken cancellationToken)
    {
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;
        start.CreateNoWindow = true;
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => onLine?.Invoke(e.Data);
        process.ErrorDataReceived += (_, e) => onLine?.Invoke(e.Data);
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            return new ChildOutcome(LocalFault.ForStart(e, start.FileName, what), false, null);
        }
        process.StandardInput.Close(); // nobody answers a prompt
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended on its own in the meantime.
            }
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            return new ChildOutcome(null, true, null);
        }
        process.WaitForExit(); // flushes the redirected streams
        return new ChildOutcome(null, false, process.ExitCode);
    }
}
