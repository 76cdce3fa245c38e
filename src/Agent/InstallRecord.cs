namespace JP1Dist.Agent;

/// <summary>The install wrapper, as it started an install command: who it is, and how long the command may run.</summary>
/// <param name="Wrapper">The wrapper process, which outlives an agent that is killed.</param>
/// <param name="TimeoutSeconds">The command's time limit, which the wrapper enforces itself.</param>
public sealed record InstallStarted(ProcessIdentity Wrapper, int TimeoutSeconds);

/// <summary>How an install command ended, as the process that waited for it saw it.</summary>
/// <param name="ExitCode">Its exit status; null when it did not end by itself.</param>
/// <param name="TimedOut">Stopped at its time limit.</param>
/// <param name="NotStarted">Why it could not be started (the fault, named, with advice); null when it started.</param>
/// <param name="OutputTail">The end of its output.</param>
/// <param name="EndedAt">When it ended (UTC).</param>
public sealed record InstallEnded(int? ExitCode, bool TimedOut, string? NotStarted, string OutputTail, DateTime EndedAt)
{
    /// <summary>How a child process ended, in the record's terms: a start fault becomes its message and advice.</summary>
    public static InstallEnded From(ChildOutcome ended, string outputTail, DateTime endedAt) => new(
        ended.ExitCode, ended.TimedOut, ended.StartFault is { } fault ? fault.MessageWithAdvice : null, ended.StartFault is null ? outputTail : "", endedAt);
}

/// <summary>
/// What the install wrapper leaves in a work item's install folder (<see cref="AgentStateStore.InstallRecordFolder"/>):
/// started.json before it starts the command, ended.json once the command has ended. Each is written whole or not at all.
/// An agent killed during an install reads them at its next start to tell an install that still runs (wait for it), one
/// that ended while the agent was down (report how), and one that ended with nobody to see it (the wrapper was killed too).
/// </summary>
public static class InstallRecord
{
    private static string StartedPath(string folder) => Path.Combine(folder, "started.json");

    private static string EndedPath(string folder) => Path.Combine(folder, "ended.json");

    public static void WriteStarted(string folder, InstallStarted started)
    {
        LocalFault.CreateFolder(folder, "the install record's folder");
        AgentStateStore.Write(StartedPath(folder), started);
    }

    public static void WriteEnded(string folder, InstallEnded ended) => AgentStateStore.Write(EndedPath(folder), ended);

    public static InstallStarted? ReadStarted(string folder) => AgentStateStore.Read<InstallStarted>(StartedPath(folder));

    public static InstallEnded? ReadEnded(string folder) => AgentStateStore.Read<InstallEnded>(EndedPath(folder));

    /// <summary>Removes a record left by an earlier attempt, so that what is read afterwards is this attempt's.</summary>
    public static void Clear(string folder) => LocalFault.Guard(folder, "clearing the install record in", () =>
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    });
}
