using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>What the agent may do to its computer once its work is done.</summary>
public enum PowerAction
{
    /// <summary>Restart: an install ended with a reboot code and its job asked for the restart (New-DistJob -RebootAfter).</summary>
    Reboot,
}

/// <summary>
/// A restart asked of this computer: why (the job), when it was asked, and when the agent ran the command (null: not yet).
/// Kept in the state folder (power.json), so an agent that restarts before acting still acts, and one that started after
/// the computer restarted knows the restart happened.
/// </summary>
public sealed record PowerRequest(PowerAction Action, string Reason, DateTime AskedAt, DateTime? RanAt = null);

/// <summary>
/// Restarts the computer when a job asked for it, never while an install or transfer runs, after a grace period: the
/// command is the agent's `--reboot-command` (the operating system's restart by default), so tests and cautious sites can
/// replace it. One request at a time: asked again while one waits, the first stands. The command runs once; whether the
/// computer really restarted is read at the agent's next start from the boot time.
/// </summary>
public sealed class PowerActions(AgentStateStore store, AgentOptions options, ILogger logger, TimeProvider time)
{
    /// <summary>How long the agent waits, once its work is done, before it runs the command (by default).</summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(60);

    /// <summary>The longest the command may run before the agent stops waiting for it.</summary>
    private static readonly TimeSpan CommandLimit = TimeSpan.FromSeconds(60);

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>The request that waits for its command, or null.</summary>
    public PowerRequest? Pending => store.LoadPowerRequest() is { RanAt: null } waiting ? waiting : null;

    /// <summary>Asks for <paramref name="action"/> because of <paramref name="reason"/>; returns the request that stands (an earlier one, if any waits).</summary>
    public PowerRequest Ask(PowerAction action, string reason)
    {
        if (Pending is { } waiting)
        {
            return waiting;
        }
        var request = new PowerRequest(action, reason, Now);
        store.SavePowerRequest(request);
        logger.LogWarning("A restart of this computer was asked ({Reason}); it runs once no install or transfer runs, {Grace:0} s from now at the earliest",
            reason, options.PowerGrace.TotalSeconds);
        return request;
    }

    /// <summary>
    /// At the agent's start: a request whose command ran is settled: the computer restarted since (its boot time is later),
    /// or it did not (the command did nothing, or was not a restart): either way it is logged and not run again.
    /// </summary>
    public void SettleAtStart()
    {
        if (store.LoadPowerRequest() is not { RanAt: { } ran } request)
        {
            return;
        }
        var booted = BootTime();
        if (booted > ran)
        {
            logger.LogInformation("This computer restarted at {Booted:u}, as {Reason} asked at {AskedAt:u}", booted, request.Reason, request.AskedAt);
        }
        else
        {
            logger.LogWarning("The restart {Reason} asked at {AskedAt:u} ran its command at {RanAt:u}, but this computer has not restarted since "
                + "(it booted at {Booted:u}); it is not asked again", request.Reason, request.AskedAt, ran, booted);
        }
        store.SavePowerRequest(null);
    }

    /// <summary>How long until a waiting request may run (zero when it may now); null when none waits.</summary>
    public TimeSpan? DueIn()
    {
        if (Pending is not { } waiting)
        {
            return null;
        }
        var left = waiting.AskedAt + options.PowerGrace - Now;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>
    /// Runs the command of a waiting request whose grace has passed, unless <paramref name="busy"/> (an install or transfer
    /// runs or is due). True when the command ran (the computer is going down); a command that fails is logged and the
    /// request dropped, so a broken command is not run again and again.
    /// </summary>
    public async Task<bool> RunIfDueAsync(bool busy, CancellationToken cancellationToken)
    {
        if (busy || DueIn() is not { } left || left > TimeSpan.Zero || Pending is not { } request)
        {
            return false;
        }
        var (file, arguments) = Command(request.Action);
        var start = new ProcessStartInfo(file);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        logger.LogWarning("Restarting this computer, as {Reason} asked at {AskedAt:u}: running {Command}", request.Reason, request.AskedAt,
            string.Join(' ', [file, .. arguments]));
        var ended = await ChildProcess.RunAsync(start, "the restart command", CommandLimit, line =>
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                logger.LogInformation("{Command}: {Line}", Path.GetFileName(file), line);
            }
        }, cancellationToken);
        if (ended.StartFault is not null || ended.TimedOut || ended.ExitCode != 0)
        {
            var why = ended.StartFault?.Message ?? (ended.TimedOut ? $"it did not end within {CommandLimit.TotalSeconds:0} s" : $"it exited with code {ended.ExitCode}");
            logger.LogError("The restart command {Command} failed ({Why}); the restart {Reason} asked is dropped: restart this computer by hand to finish the installation",
                file, why, request.Reason);
            store.SavePowerRequest(null);
            return false;
        }
        store.SavePowerRequest(request with { RanAt = Now });
        return true;
    }

    /// <summary>The command for <paramref name="action"/>: the agent's --reboot-command, else the operating system's restart.</summary>
    public (string File, IReadOnlyList<string> Arguments) Command(PowerAction action) =>
        options.RebootCommand is { Length: > 0 } given ? (given, options.RebootArguments) : DefaultCommand(action);

    /// <summary>The operating system's own restart, at once (the agent has waited its grace already).</summary>
    public static (string File, IReadOnlyList<string> Arguments) DefaultCommand(PowerAction action)
    {
        _ = action;
        if (OperatingSystem.IsWindows())
        {
            // Planned, application maintenance (p:4:1): the event log says why the computer restarted.
            return (Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.System), "shutdown.exe"),
                ["/r", "/t", "0", "/d", "p:4:1", "/c", "JP1Dist: restarting to finish an installation"]);
        }
        if (OperatingSystem.IsLinux() && (File.Exists("/usr/bin/systemctl") || File.Exists("/bin/systemctl")))
        {
            return (File.Exists("/usr/bin/systemctl") ? "/usr/bin/systemctl" : "/bin/systemctl", ["reboot"]);
        }
        return ("/sbin/shutdown", ["-r", "now"]);
    }

    /// <summary>When this computer started (UTC), from the time since boot.</summary>
    public DateTime BootTime() => Now - TimeSpan.FromMilliseconds(Environment.TickCount64);
}
