using System.Diagnostics;
using System.Text;
using JP1Dist.Protocol;

namespace JP1Dist.Agent;

/// <summary>What the install command did.</summary>
public sealed record InstallOutcome(bool Succeeded, int? ExitCode, string Message, string OutputTail);

/// <summary>
/// Runs a package's install command: an argument list (no shell in between), the staging folder as working
/// directory, the job's names in the environment, a timeout that kills the whole process tree, and the tail of its output.
/// </summary>
public static class InstallRunner
{
    private const int TailCharacters = 8000;

    public static async Task<InstallOutcome> RunAsync(PackageManifest manifest, string stagingFolder, string hostName, string jobName, CancellationToken cancellationToken)
    {
        var command = ResolveCommand(manifest, stagingFolder);
        var start = new ProcessStartInfo { FileName = command, WorkingDirectory = stagingFolder };
        foreach (var argument in manifest.InstallArguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["JP1DIST_HOST_NAME"] = hostName;
        start.Environment["JP1DIST_JOB_NAME"] = jobName;
        start.Environment["JP1DIST_PACKAGE_NAME"] = manifest.Name;
        start.Environment["JP1DIST_PACKAGE_VERSION"] = manifest.Version;
        start.Environment["JP1DIST_STAGING_FOLDER"] = stagingFolder;

        var tail = new OutputTail(TailCharacters);
        ChildOutcome ended;
        try
        {
            ended = await ChildProcess.RunAsync(start, TimeSpan.FromSeconds(manifest.InstallTimeoutSeconds), tail.Add, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return new InstallOutcome(false, null, "The install command was stopped because the agent shut down.", tail.ToString());
        }
        if (ended.StartError is not null)
        {
            return new InstallOutcome(false, null, $"The install command '{manifest.InstallCommand}' could not be started: {ended.StartError}", "");
        }
        if (ended.TimedOut)
        {
            return new InstallOutcome(false, null, $"The install command did not finish within {manifest.InstallTimeoutSeconds} s and was stopped.", tail.ToString());
        }
        var code = ended.ExitCode!.Value;
        var succeeded = manifest.SuccessExitCodes.Contains(code);
        var message = succeeded
            ? $"The install command exited with code {code}."
            : $"The install command exited with code {code}, which is not a success code ({string.Join(", ", manifest.SuccessExitCodes)}).";
        return new InstallOutcome(succeeded, code, message, tail.ToString());
    }

    /// <summary>A file of the package runs from the staging folder (made executable on Unix); anything else is a program the client has.</summary>
    private static string ResolveCommand(PackageManifest manifest, string stagingFolder)
    {
        var file = manifest.Files.FirstOrDefault(f => string.Equals(f.Path, manifest.InstallCommand, StringComparison.Ordinal));
        if (file is null)
        {
            return manifest.InstallCommand;
        }
        var path = Path.Combine(stagingFolder, file.Path);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.UserRead);
        }
        return path;
    }

    /// <summary>Keeps the last characters of a process's output lines, thread-safe.</summary>
    private sealed class OutputTail(int capacity)
    {
        private readonly StringBuilder _text = new();
        private readonly Lock _lock = new();

        public void Add(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_lock)
            {
                _text.AppendLine(line);
                if (_text.Length > capacity * 2)
                {
                    _text.Remove(0, _text.Length - capacity);
                }
            }
        }

        public override string ToString()
        {
            lock (_lock)
            {
                var text = _text.ToString();
                return text.Length > capacity ? text[^capacity..] : text;
            }
        }
    }
}
