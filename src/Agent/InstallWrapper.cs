using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;

namespace JP1Dist.Agent;

/// <summary>
/// `jp1dist run-install --record DIR --timeout SECONDS -- COMMAND [ARGUMENT …]`: the process between an agent and the
/// install command it runs. It records itself (<see cref="InstallStarted"/>), runs the command with its time limit, passes
/// the command's output on, and records how it ended (<see cref="InstallEnded"/>). An agent that is killed during an
/// install takes its end of the pipe with it, but not the wrapper: the wrapper still waits for the command, which only
/// its parent can do, and records its exit code for the agent's next start, so an installer that finishes is reported as
/// it finished rather than as a blind failure.
/// </summary>
public static class InstallWrapper
{
    /// <summary>The `jp1dist` command that runs the wrapper (internal: the agent starts it, nobody types it).</summary>
    public const string CommandName = "run-install";

    /// <summary>The exit code for a command line the wrapper cannot use.</summary>
    public const int UsageExitCode = 2;

    /// <summary>The exit code when the wrapper could not record the command's end (the command ran; its outcome is lost).</summary>
    public const int NotRecordedExitCode = 1;

    /// <summary>
    /// How much longer than the command's own limit a wrapper may run before it is taken for stuck and stopped: it stops
    /// the command at the limit itself, then needs a moment to record it.
    /// </summary>
    public static readonly TimeSpan Slack = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The command line that runs the wrapper from this program, when this program is `jp1dist` (its apphost, or
    /// `dotnet jp1dist.dll`); null when the program's path is not known.
    /// </summary>
    public static IReadOnlyList<string>? ForThisProgram()
    {
        var path = Environment.ProcessPath;
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }
        if (!string.Equals(Path.GetFileNameWithoutExtension(path), "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return [path];
        }
        var entry = Assembly.GetEntryAssembly()?.Location;
        return string.IsNullOrEmpty(entry) ? null : [path, entry];
    }

    /// <summary>How the agent starts the wrapper around <paramref name="command"/> (<paramref name="wrapper"/>: <see cref="ForThisProgram"/>).</summary>
    public static ProcessStartInfo StartInfo(IReadOnlyList<string> wrapper, string recordFolder, int timeoutSeconds, string command, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo { FileName = wrapper[0] };
        foreach (var part in wrapper.Skip(1))
        {
            start.ArgumentList.Add(part);
        }
        start.ArgumentList.Add(CommandName);
        start.ArgumentList.Add("--record");
        start.ArgumentList.Add(recordFolder);
        start.ArgumentList.Add("--timeout");
        start.ArgumentList.Add(timeoutSeconds.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(command);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return start;
    }

    /// <summary>Runs the wrapper: <paramref name="args"/> are what follows `run-install`. The working directory and environment pass to the command.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (Parse(args, out var usageError) is not { } request)
        {
            await error.WriteLineAsync($"jp1dist {CommandName}: {usageError}");
            await error.WriteLineAsync($"Usage: jp1dist {CommandName} --record FOLDER --timeout SECONDS -- COMMAND [ARGUMENT …]");
            return UsageExitCode;
        }
        // A stop signal meant for the agent's service (systemd signals the whole group) does not end the wrapper: it stays
        // to see the command to its end and record it; its own time limit bounds it.
        using var terminate = IgnoreSignal(PosixSignal.SIGTERM);
        using var hangUp = IgnoreSignal(PosixSignal.SIGHUP);
        using var interrupt = IgnoreSignal(PosixSignal.SIGINT);
        try
        {
            InstallRecord.WriteStarted(request.Record, new InstallStarted(ProcessIdentity.Current(), request.TimeoutSeconds));
        }
        catch (LocalFaultException e)
        {
            // Nothing ran: the agent sees no record and reports that the command was not started.
            await error.WriteLineAsync($"jp1dist {CommandName}: {e.Fault.MessageWithAdvice}");
            return NotRecordedExitCode;
        }
        var start = new ProcessStartInfo { FileName = request.Command, WorkingDirectory = Environment.CurrentDirectory };
        foreach (var argument in request.Arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var tail = new OutputTail(InstallRunner.TailCharacters);
        var passOn = new PassOn(output);
        var ended = await ChildProcess.RunAsync(start, InstallRunner.CommandWhat, TimeSpan.FromSeconds(request.TimeoutSeconds), line =>
        {
            tail.Add(line);
            passOn.Write(line);
        }, CancellationToken.None);
        try
        {
            InstallRecord.WriteEnded(request.Record, InstallEnded.From(ended, tail.ToString(), DateTime.UtcNow));
            return 0;
        }
        catch (LocalFaultException e)
        {
            await error.WriteLineAsync($"jp1dist {CommandName}: the install command ended (exit code {ended.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}), "
                + $"but its end could not be recorded: {e.Fault.MessageWithAdvice}");
            return NotRecordedExitCode;
        }
    }

    private sealed record Request(string Record, int TimeoutSeconds, string Command, IReadOnlyList<string> Arguments);

    private static Request? Parse(IReadOnlyList<string> args, out string error)
    {
        string? record = null;
        int? timeout = null;
        var i = 0;
        for (; i < args.Count && args[i] != "--"; i++)
        {
            var value = i + 1 < args.Count && args[i + 1] != "--" ? args[i + 1] : null;
            switch (args[i])
            {
                case "--record" when !string.IsNullOrWhiteSpace(value):
                    record = Path.GetFullPath(value);
                    i++;
                    break;
                case "--timeout" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0:
                    timeout = seconds;
                    i++;
                    break;
                case "--record" or "--timeout":
                    error = $"{args[i]} needs a value ({(args[i] == "--record" ? "a folder" : "a whole number of seconds above 0")}), not '{value}'.";
                    return null;
                default:
                    error = $"unknown argument '{args[i]}'.";
                    return null;
            }
        }
        if (record is null || timeout is null)
        {
            error = record is null ? "--record is required." : "--timeout is required.";
            return null;
        }
        if (i + 1 >= args.Count || string.IsNullOrWhiteSpace(args[i + 1]))
        {
            error = "the install command is missing after '--'.";
            return null;
        }
        error = "";
        return new Request(record, timeout.Value, args[i + 1], args.Skip(i + 2).ToList());
    }

    private static PosixSignalRegistration? IgnoreSignal(PosixSignal signal)
    {
        try
        {
            return PosixSignalRegistration.Create(signal, context => context.Cancel = true);
        }
        catch (PlatformNotSupportedException)
        {
            return null; // SIGHUP has no meaning on Windows
        }
    }

    /// <summary>
    /// Passes the command's output on to the agent while the agent reads it; once the agent is gone (its end of the pipe
    /// closed), writing stops and the command goes on.
    /// </summary>
    private sealed class PassOn(TextWriter output)
    {
        private readonly Lock _lock = new();
        private bool _gone;

        public void Write(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_lock)
            {
                if (_gone)
                {
                    return;
                }
                try
                {
                    output.WriteLine(line);
                    output.Flush();
                }
                catch (IOException)
                {
                    _gone = true;
                }
            }
        }
    }
}
