using System.Diagnostics;

namespace JP1Dist.Core.Managers;

/// <summary>Whether a process on this computer still runs (for managers bound to a session, and stale heartbeats).</summary>
public static class ProcessLiveness
{
    public static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
