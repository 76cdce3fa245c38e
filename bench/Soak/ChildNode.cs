using System.Diagnostics;
using JP1Dist.Core.Managers;

namespace JP1Dist.Bench.Soak;

/// <summary>
/// One `jp1dist` node (manager, relay or agent) that the soak starts, kills and starts again with the same arguments,
/// so on the same state folder and port. Its console goes to a file (appended across restarts) through `sh -c exec`, so
/// the process id is jp1dist's own and the benchmark holds no pipe per agent.
/// </summary>
public sealed class ChildNode(string name, string executable, IReadOnlyList<string> arguments, string outputFile, bool diesWithParent = false)
{
    private readonly Lock _gate = new();
    private Process? _process;
    private bool _killedOnPurpose;

    public string Name { get; } = name;

    /// <summary>How many times it was started (the first start included).</summary>
    public int Starts { get; private set; }

    /// <summary>The running process, or null before the first start.</summary>
    public Process? Process
    {
        get
        {
            lock (_gate)
            {
                return _process;
            }
        }
    }

    /// <summary>Whether the current process is running.</summary>
    public bool IsRunning => Process is { HasExited: false };

    /// <summary>Whether the current process ended by itself (not killed by the benchmark): a node that stopped.</summary>
    public bool EndedByItself
    {
        get
        {
            lock (_gate)
            {
                return _process is { HasExited: true } && !_killedOnPurpose;
            }
        }
    }

    /// <summary>The exit code of the current process once it has ended, else null.</summary>
    public int? ExitCode => Process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>Starts the node (again); the previous process must have ended.</summary>
    public void Start()
    {
        var (fileName, dll) = ManagerLauncher.FindExecutable(executable);
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = false };
        // sh -c 'exec "$@" >>"$0" 2>&1' OUTPUT jp1dist ARGS...: the shell replaces itself with jp1dist.
        foreach (var argument in new[] { "-c", "exec \"$@\" >>\"$0\" 2>&1", outputFile, fileName })
        {
            start.ArgumentList.Add(argument);
        }
        if (dll is not null)
        {
            start.ArgumentList.Add(dll);
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // Nothing from the benchmark's environment decides where these nodes keep state or which token they use.
        foreach (var variable in new[] { "JP1DIST_HOME", "JP1DIST_TOKEN", JP1Dist.Protocol.Tls.PlainHttp.CertificatePasswordVariable, "JP1DIST_PARENT_PID", "JP1DIST_SHUTDOWN_SECRET" })
        {
            start.Environment.Remove(variable);
        }
        if (diesWithParent)
        {
            // The manager watches this process and ends with it, even when the benchmark itself is killed.
            start.Environment["JP1DIST_PARENT_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        lock (_gate)
        {
            if (_process is { HasExited: false })
            {
                throw new InvalidOperationException($"{Name} is already running.");
            }
            _process?.Dispose();
            _process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException($"{Name} did not start.");
            _killedOnPurpose = false;
            Starts++;
        }
    }

    /// <summary>SIGKILL, at once: no shutdown, no flush, as a power cut or an OOM kill would end it. Waits until it is gone.</summary>
    public async Task KillAsync()
    {
        Process? process;
        lock (_gate)
        {
            process = _process;
            _killedOnPurpose = true;
        }
        if (process is null)
        {
            return;
        }
        try
        {
            // The whole tree: an agent's install command (sh, sleep) goes with it at the end of the run.
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        await process.WaitForExitAsync();
    }

    /// <summary>The process's proportional set size in KiB (Linux), or null when it is not running or not readable.</summary>
    public long? ProportionalSetKib()
    {
        if (Process is not { HasExited: false } process)
        {
            return null;
        }
        try
        {
            foreach (var line in File.ReadLines($"/proc/{process.Id}/smaps_rollup"))
            {
                if (line.StartsWith("Pss:", StringComparison.Ordinal))
                {
                    return long.Parse(line[4..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }
}
