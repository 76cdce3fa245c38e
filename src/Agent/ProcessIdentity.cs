using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace JP1Dist.Agent;

/// <summary>
/// A process as another process can recognise it later: its id and when it started. An id alone is not enough, since the
/// system hands a freed id to a new process; the start time tells the one recorded from any later holder of its id.
/// </summary>
/// <param name="ProcessId">The process id.</param>
/// <param name="StartedAt">When the process started (UTC), as the operating system gives it.</param>
public sealed record ProcessIdentity(int ProcessId, DateTime StartedAt)
{
    /// <summary>How far two readings of one process's start time may differ (the system derives it from its boot time).</summary>
    private static readonly TimeSpan StartTolerance = TimeSpan.FromSeconds(1);

    /// <summary>This process.</summary>
    public static ProcessIdentity Current()
    {
        using var self = Process.GetCurrentProcess();
        return new ProcessIdentity(self.Id, self.StartTime.ToUniversalTime());
    }

    /// <summary>Whether this process still runs: a process with its id exists, started at its start time, and has not ended (a zombie has).</summary>
    public bool IsRunning()
    {
        try
        {
            using var process = Process.GetProcessById(ProcessId);
            if (process.HasExited || IsZombie())
            {
                return false;
            }
            return (process.StartTime.ToUniversalTime() - StartedAt).Duration() <= StartTolerance;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // No such process, or it ended while being looked at, or its start time cannot be read (then it is not the one recorded).
            return false;
        }
    }

    /// <summary>
    /// Ends the process and everything it started, when it is still the one recorded; false when it had already ended.
    /// </summary>
    public bool Kill()
    {
        try
        {
            using var process = Process.GetProcessById(ProcessId);
            if (!IsRunning())
            {
                return false;
            }
            process.Kill(entireProcessTree: true);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or Win32Exception or NotSupportedException)
        {
            return false;
        }
    }

    /// <summary>
    /// On Linux, whether the process has ended and waits to be reaped by its parent (state Z or X in /proc/PID/stat): its id
    /// and start time are still there, but it runs no more. Elsewhere false.
    /// </summary>
    private bool IsZombie()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            var stat = File.ReadAllText($"/proc/{ProcessId.ToString(CultureInfo.InvariantCulture)}/stat");
            // "PID (COMMAND) STATE ...": the command may hold spaces and parentheses, the state follows the last ')'.
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] is 'Z' or 'X';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true; // gone between the two reads
        }
    }
}
