using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>What the agent may do to its computer once its work is done.</summary>
public enum PowerAction
{
    /// <summary>Restart: an install ended with a reboot code and its job asked for the restart (New-DistJob -RebootAfter).</summary>
    Reboot,

    /// <summary>Shut down: a job asked for it once its install ended (New-DistJob -ShutdownAfter), or the manager ordered it (Stop-DistHost).</summary>
    Shutdown,
}

/// <summary>
/// The commands and grace of a node's power actions (`--reboot-command`, `--shutdown-command`, their arguments and
/// `--power-grace-seconds`), read once from the command line and given to the agent, or to a relay's own client role,
/// which runs the same <see cref="PowerActions"/>: a relay's computer is a managed host that Stop-DistHost and
/// -ShutdownAfter may target like any other.
/// </summary>
public sealed record PowerCommands(string? RebootCommand, IReadOnlyList<string> RebootArguments, string? ShutdownCommand,
    IReadOnlyList<string> ShutdownArguments, TimeSpan Grace)
{
    /// <summary>Sets these on the options of the agent (or relay client role) that will run them.</summary>
    public void ApplyTo(AgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.RebootCommand = RebootCommand;
        options.RebootArguments = RebootArguments;
        options.ShutdownCommand = ShutdownCommand;
        options.ShutdownArguments = ShutdownArguments;
        options.PowerGrace = Grace;
    }
}

/// <summary>
/// A restart or shutdown asked of this computer: why (the job or the order), when it was asked, and when the agent ran the
/// command (null: not yet). Kept in the state folder (power.json), so an agent that restarts before acting still acts, and
/// one that started after the computer went down knows it did. GraceSeconds is the order's grace (null: the agent's own);
/// ReportTo lists the power orders and -ShutdownAfter work items whose status is told when the command ran, and
/// DoneReported whether that was told.
/// </summary>
public sealed record PowerRequest(PowerAction Action, string Reason, DateTime AskedAt, DateTime? RanAt = null)
{
    public int? GraceSeconds { get; init; }
    public IReadOnlyList<Guid>? ReportTo { get; init; }
    public bool DoneReported { get; init; }

    /// <summary>Set at the agent's start once the outcome was logged; the request is kept only to tell the orders.</summary>
    public bool Settled { get; init; }
}

/// <summary>
/// Restarts or shuts down the computer when a job asked for it, never while an install or transfer runs, after a grace
/// period: the command is the agent's `--reboot-command` or `--shutdown-command` (the operating system's own by default),
/// so tests and cautious sites can replace it. One request at a time: asked again while one waits, the first stands, except
/// that a shutdown takes the place of a waiting restart (the computer starts anew either way, and was asked to stay off).
/// The command runs once; whether the computer really went down is read at the agent's next start from the boot time.
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

    /// <summary>
    /// Asks for <paramref name="action"/> because of <paramref name="reason"/>; returns the request that stands (an earlier one,
    /// if any waits: <paramref name="reportTo"/> is then told of that one too). <paramref name="graceSeconds"/> replaces the
    /// agent's grace (a power order's own).
    /// </summary>
    public PowerRequest Ask(PowerAction action, string reason, Guid? reportTo = null, int? graceSeconds = null)
    {
        IReadOnlyList<Guid> told = reportTo is { } id ? [id] : [];
        if (Pending is { } waiting && !(waiting.Action == PowerAction.Reboot && action == PowerAction.Shutdown))
        {
            if (told.Count > 0 && !(waiting.ReportTo ?? []).Contains(told[0]))
            {
                waiting = waiting with { ReportTo = [.. waiting.ReportTo ?? [], .. told] };
                store.SavePowerRequest(waiting);
            }
            return waiting;
        }
        var request = new PowerRequest(action, reason, Now) { GraceSeconds = graceSeconds, ReportTo = told.Count > 0 ? told : null };
        store.SavePowerRequest(request);
        logger.LogWarning("A {Action} of this computer was asked ({Reason}); it runs once no install or transfer runs, {Grace:0} s from now at the earliest",
            Noun(action), reason, GraceOf(request).TotalSeconds);
        return request;
    }

    /// <summary>How long a request waits once asked: its own grace (a power order's), else the agent's.</summary>
    public TimeSpan GraceOf(PowerRequest request) => request.GraceSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : options.PowerGrace;

    /// <summary>A request whose command ran and whose orders and work items have not been told so yet; null when none.</summary>
    public PowerRequest? DoneToReport => store.LoadPowerRequest() is { RanAt: not null, DoneReported: false, ReportTo.Count: > 0 } ran ? ran : null;

    /// <summary>Records that the orders and work items were told the command ran (a request already settled at start goes).</summary>
    public void DoneReported(PowerRequest request)
    {
        if (store.LoadPowerRequest() is { } current && current.AskedAt == request.AskedAt)
        {
            store.SavePowerRequest(current.Settled ? null : current with { DoneReported = true });
        }
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
        // A request settled at an earlier start was logged then; it is kept only until its orders are told.
        if (!request.Settled && booted > ran)
        {
            logger.LogInformation("This computer started again at {Booted:u} after the {Action} {Reason} asked at {AskedAt:u} (command run at {RanAt:u})",
                booted, Noun(request.Action), request.Reason, request.AskedAt, ran);
        }
        else if (!request.Settled)
        {
            logger.LogWarning("The {Action} {Reason} asked at {AskedAt:u} ran its command at {RanAt:u}, but this computer has not {Gone} since "
                + "(it booted at {Booted:u}); it is not asked again", Noun(request.Action), request.Reason, request.AskedAt, ran,
                request.Action == PowerAction.Shutdown ? "gone down" : "restarted", booted);
        }
        // Kept only while the orders it ran for have not been told (the computer went down before the report left).
        store.SavePowerRequest(request is { DoneReported: false, ReportTo.Count: > 0 } ? request with { Settled = true } : null);
    }

    /// <summary>How long until a waiting request may run (zero when it may now); null when none waits.</summary>
    public TimeSpan? DueIn()
    {
        if (Pending is not { } waiting)
        {
            return null;
        }
        var left = waiting.AskedAt + GraceOf(waiting) - Now;
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
        logger.LogWarning("{Doing} this computer, as {Reason} asked at {AskedAt:u}: running {Command}",
            request.Action == PowerAction.Shutdown ? "Shutting down" : "Restarting", request.Reason, request.AskedAt, string.Join(' ', [file, .. arguments]));
        var ended = await ChildProcess.RunAsync(start, $"the {Noun(request.Action)} command", CommandLimit, line =>
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                logger.LogInformation("{Command}: {Line}", Path.GetFileName(file), line);
            }
        }, cancellationToken);
        if (ended.StartFault is not null || ended.TimedOut || ended.ExitCode != 0)
        {
            var why = ended.StartFault?.Message ?? (ended.TimedOut ? $"it did not end within {CommandLimit.TotalSeconds:0} s" : $"it exited with code {ended.ExitCode}");
            logger.LogError("The {Action} command {Command} failed ({Why}); the {Action} {Reason} asked is dropped: {What} this computer by hand",
                Noun(request.Action), file, why, Noun(request.Action), request.Reason, request.Action == PowerAction.Shutdown ? "shut down" : "restart");
            store.SavePowerRequest(null);
            return false;
        }
        store.SavePowerRequest(request with { RanAt = Now });
        return true;
    }

    /// <summary>The word for <paramref name="action"/> in messages.</summary>
    public static string Noun(PowerAction action) => action == PowerAction.Shutdown ? "shutdown" : "restart";

    /// <summary>The command for <paramref name="action"/>: the agent's --reboot-command or --shutdown-command, else the operating system's own.</summary>
    public (string File, IReadOnlyList<string> Arguments) Command(PowerAction action) => action switch
    {
        PowerAction.Shutdown when options.ShutdownCommand is { Length: > 0 } given => (given, options.ShutdownArguments),
        PowerAction.Reboot when options.RebootCommand is { Length: > 0 } given => (given, options.RebootArguments),
        _ => DefaultCommand(action),
    };

    /// <summary>The operating system's own restart or shutdown, at once (the agent has waited its grace already).</summary>
    public static (string File, IReadOnlyList<string> Arguments) DefaultCommand(PowerAction action)
    {
        var shutdown = action == PowerAction.Shutdown;
        if (OperatingSystem.IsWindows())
        {
            // Planned, application maintenance (p:4:1): the event log says why the computer went down.
            return (Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.System), "shutdown.exe"),
                [shutdown ? "/s" : "/r", "/t", "0", "/d", "p:4:1", "/c", shutdown ? "JP1Dist: shutting down after an installation" : "JP1Dist: restarting to finish an installation"]);
        }
        if (OperatingSystem.IsLinux() && (File.Exists("/usr/bin/systemctl") || File.Exists("/bin/systemctl")))
        {
            return (File.Exists("/usr/bin/systemctl") ? "/usr/bin/systemctl" : "/bin/systemctl", [shutdown ? "poweroff" : "reboot"]);
        }
        return ("/sbin/shutdown", [shutdown ? "-h" : "-r", "now"]);
    }

    /// <summary>When this computer started (UTC), from the time since boot.</summary>
    public DateTime BootTime() => Now - TimeSpan.FromMilliseconds(Environment.TickCount64);
}
