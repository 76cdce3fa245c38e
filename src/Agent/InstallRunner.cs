using System.Diagnostics;
using JP1Dist.Protocol;

namespace JP1Dist.Agent;

/// <summary>What the install command did; Meaning is null when it did not end by itself (not started, timed out, stopped).</summary>
public sealed record InstallOutcome(ExitCodeMeaning? Meaning, int? ExitCode, string Message, string OutputTail)
{
    /// <summary>Whether the package is installed (a success code, or a reboot code).</summary>
    public bool Succeeded => Meaning is ExitCodeMeaning.Success or ExitCodeMeaning.RebootRequired;

    /// <summary>The status reported for it.</summary>
    public string ReportStatus => Meaning switch
    {
        ExitCodeMeaning.Success => ReportStatuses.Succeeded,
        ExitCodeMeaning.RebootRequired => ReportStatuses.SucceededRebootRequired,
        _ => ReportStatuses.Failed,
    };
}

/// <summary>
/// Runs a package's install command: an argument list (no shell in between), the staging folder as working
/// directory, the job's names in the environment, a timeout that kills the whole process tree, and the tail of its output.
/// A command that is missing or cannot be run, and a staging folder that is gone, end the install with the
/// <see cref="LocalFault"/> (Failed, the fault named, nothing run).
/// </summary>
public static class InstallRunner
{
    /// <summary>How much of a command's output is kept for its result.</summary>
    internal const int TailCharacters = 8000;

    /// <summary>How a start fault names the install command.</summary>
    internal const string CommandWhat = "the install command";

    /// <summary>
    /// Runs the install command of <paramref name="manifest"/> in <paramref name="stagingFolder"/>. With
    /// <paramref name="wrapper"/> (<see cref="InstallWrapper.ForThisProgram"/>) it runs through the install wrapper, which
    /// records the command in <paramref name="recordFolder"/> and outlives this process; without, directly (an agent
    /// killed meanwhile cannot learn how the command ended).
    /// </summary>
    public static async Task<InstallOutcome> RunAsync(PackageManifest manifest, string stagingFolder, string hostName, string jobName,
        IReadOnlyList<string>? wrapper, string recordFolder, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(stagingFolder))
        {
            // Also the working directory: starting without it would look like a missing command.
            return NotStarted(new LocalFault(LocalFaultKind.StorageFailed, stagingFolder, "running the install command in",
                "the staging folder is gone (removed since the transfer)"));
        }
        string command;
        try
        {
            command = ResolveCommand(manifest, stagingFolder);
            InstallRecord.Clear(recordFolder);
        }
        catch (LocalFaultException e)
        {
            return NotStarted(e.Fault);
        }
        var limit = TimeSpan.FromSeconds(manifest.InstallTimeoutSeconds);
        ProcessStartInfo start;
        if (wrapper is null)
        {
            start = new ProcessStartInfo { FileName = command };
            foreach (var argument in manifest.InstallArguments)
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            start = InstallWrapper.StartInfo(wrapper, recordFolder, manifest.InstallTimeoutSeconds, command, manifest.InstallArguments);
            limit += InstallWrapper.Slack; // the wrapper stops the command at its limit itself
        }
        start.WorkingDirectory = stagingFolder;
        start.Environment["JP1DIST_HOST_NAME"] = hostName;
        start.Environment["JP1DIST_JOB_NAME"] = jobName;
        start.Environment["JP1DIST_PACKAGE_NAME"] = manifest.Name;
        start.Environment["JP1DIST_PACKAGE_VERSION"] = manifest.Version;
        start.Environment["JP1DIST_STAGING_FOLDER"] = stagingFolder;

        var tail = new OutputTail(TailCharacters);
        ChildOutcome ended;
        try
        {
            ended = await ChildProcess.RunAsync(start, wrapper is null ? CommandWhat : "the install wrapper", limit, tail.Add, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return new InstallOutcome(null, null, "The install command was stopped because the agent shut down.", tail.ToString());
        }
        if (wrapper is null)
        {
            return Interpret(manifest, InstallEnded.From(ended, tail.ToString(), DateTime.UtcNow));
        }
        if (InstallRecord.ReadEnded(recordFolder) is { } recorded)
        {
            return Interpret(manifest, recorded);
        }
        if (ended.StartFault is { } fault)
        {
            return NotStarted(fault);
        }
        return new InstallOutcome(null, null, ended.TimedOut
            ? $"The install wrapper did not end within {limit.TotalSeconds:0} s (the command's limit and {InstallWrapper.Slack.TotalSeconds:0} s) and was stopped with the command."
            : $"The install wrapper ended (exit code {ended.ExitCode}) without recording how the install command ended; see the agent's log.", tail.ToString());
    }

    /// <summary>
    /// What an install command's end means for the package: the one reading of a recorded end, whether the agent waited
    /// for the command itself or found the record at its next start.
    /// </summary>
    public static InstallOutcome Interpret(PackageManifest manifest, InstallEnded ended)
    {
        if (ended.NotStarted is { } why)
        {
            return new InstallOutcome(null, null, why, "");
        }
        if (ended.TimedOut || ended.ExitCode is not { } code)
        {
            return new InstallOutcome(null, null, $"The install command did not finish within {manifest.InstallTimeoutSeconds} s and was stopped.", ended.OutputTail);
        }
        var reading = ExitCodes.Read(manifest, code, eightBit: !OperatingSystem.IsWindows());
        return new InstallOutcome(reading.Meaning, reading.Reported, Describe(manifest, reading), ended.OutputTail);
    }

    /// <summary>What the exit code means, in words: the code, what it was read as, and what happens next.</summary>
    public static string Describe(PackageManifest manifest, ExitCodeReading reading)
    {
        var code = reading.Mapped
            ? $"code {reading.Reported} (read as {reading.Code}: this system passes only the low 8 bits of an exit code)"
            : $"code {reading.Code}";
        return reading.Meaning switch
        {
            ExitCodeMeaning.Success => $"The install command exited with {code}.",
            ExitCodeMeaning.RebootRequired => $"The install command exited with {code}, a reboot code: installed, and the computer must restart to finish.",
            ExitCodeMeaning.RetryLater => $"The install command exited with {code}, a retry code (for example another installation was in progress): "
                + "the manager queues the install again later.",
            _ => $"The install command exited with {code}, which is not a success code ({string.Join(", ", manifest.SuccessExitCodes)}).",
        };
    }

    /// <summary>An install that did not start: Failed, with the fault and what to do about it.</summary>
    private static InstallOutcome NotStarted(LocalFault fault) => new(null, null, fault.MessageWithAdvice, "");

    /// <summary>
    /// A file of the package runs from the staging folder (made executable on Unix); anything else is a program the client
    /// has. A package file that is gone, or that cannot be made executable, is a <see cref="LocalFaultException"/>.
    /// </summary>
    private static string ResolveCommand(PackageManifest manifest, string stagingFolder)
    {
        var file = manifest.Files.FirstOrDefault(f => string.Equals(f.Path, manifest.InstallCommand, StringComparison.Ordinal));
        if (file is null)
        {
            return manifest.InstallCommand;
        }
        var path = Path.Combine(stagingFolder, file.Path);
        if (!File.Exists(path))
        {
            throw new LocalFaultException(new LocalFault(LocalFaultKind.CommandNotFound, path, CommandWhat, "the package's file is gone from the staging folder"));
        }
        LocalFault.Guard(path, "making executable", () =>
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.UserRead);
            }
        });
        return path;
    }
}
