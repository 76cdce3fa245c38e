using System.Globalization;
using JP1Dist.Contracts;

namespace JP1Dist.Bench.Soak;

/// <summary>
/// What the agents actually ran: every install command appends "HOST JOB EXITCODE" to the host's own file in one folder
/// (<see cref="Script"/>), so the count of lines per (job, host) is how often that install ran, whatever the manager says.
/// </summary>
public sealed class InstallLedger
{
    /// <summary>
    /// The install command's script (`/bin/sh -c SCRIPT soak-install FOLDER ok|fail SECONDS`): append the line, then take a
    /// little time (so kills land during installs too), then exit 0, or <see cref="SoakPlan.FailureExitCode"/> on the hosts
    /// whose name ends in 0 when the job fails on purpose. The line is written first, so an install that was started is
    /// counted even if it is cut short.
    /// </summary>
    public static readonly string Script = "code=0; if [ \"$2\" = fail ]; then case \"$JP1DIST_HOST_NAME\" in *0) code=" + SoakPlan.FailureExitCode.ToString(CultureInfo.InvariantCulture) + ";; esac; fi; "
        + "echo \"$JP1DIST_HOST_NAME $JP1DIST_JOB_NAME $code\" >> \"$1/$JP1DIST_HOST_NAME\"; sleep \"$3\"; exit $code";

    private readonly Dictionary<(string Job, string Host), List<int>> _runs;

    private InstallLedger(Dictionary<(string Job, string Host), List<int>> runs) => _runs = runs;

    /// <summary>How many install commands ran in all.</summary>
    public int Installs => _runs.Values.Sum(r => r.Count);

    /// <summary>The exit codes of every run of the job on the host (empty when it never ran).</summary>
    public IReadOnlyList<int> RunsOf(string job, string host) =>
        _runs.TryGetValue((job, host.ToLowerInvariant()), out var runs) ? runs : [];

    /// <summary>Every (job, host) that ran at least once.</summary>
    public IEnumerable<(string Job, string Host)> Keys => _runs.Keys;

    /// <summary>Whether an install of this job on this host is meant to fail.</summary>
    public static bool FailsOnPurpose(PlannedJob job, string host) => job.FailsOnSomeHosts && host.EndsWith('0');

    /// <summary>Reads every host's file in the folder.</summary>
    public static InstallLedger Read(string folder)
    {
        var runs = new Dictionary<(string, string), List<int>>();
        foreach (var file in Directory.EnumerateFiles(folder))
        {
            foreach (var line in File.ReadLines(file))
            {
                var parts = line.Split(' ');
                if (parts.Length != 3 || !int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var code))
                {
                    throw new InvalidDataException($"'{file}' holds a line that is not HOST JOB EXITCODE: '{line}'.");
                }
                var key = (parts[1], parts[0].ToLowerInvariant());
                if (!runs.TryGetValue(key, out var list))
                {
                    runs[key] = list = [];
                }
                list.Add(code);
            }
        }
        return new InstallLedger(runs);
    }
}

/// <summary>How one target compares with what its agent ran; <see cref="Problem"/> is null when it is as planned.</summary>
public sealed record TargetVerdict(DistJobStatus Target, int Runs, string? Problem, string Kind)
{
    public const string NotFinal = "notFinal";
    public const string DoubleInstall = "doubleInstall";
    public const string LostResult = "lostResult";
    public const string ResultWithoutInstall = "resultWithoutInstall";
    public const string UnexpectedOutcome = "unexpectedOutcome";
    public const string AsPlanned = "asPlanned";

    /// <summary>
    /// Judges one target: it must be final; the install must have run at most once; the manager's result must be what the
    /// agent ran (Succeeded for exit code 0, Failed with the code otherwise; a result that says the install ran needs a run,
    /// and a run needs a result saying so); and the outcome must be the planned one.
    /// </summary>
    public static TargetVerdict Judge(DistJobStatus target, PlannedJob job, IReadOnlyList<int> runs)
    {
        var describe = $"{target.JobName} on {target.HostName}: {target.Status}{(target.ExitCode is { } code ? $" (exit {code})" : "")}, attempt {target.Attempt}, "
            + $"ran {runs.Count} time(s){(runs.Count > 0 ? $" with exit {string.Join(",", runs)}" : "")}; {target.Message}";
        if (!target.Status.IsFinal())
        {
            return new(target, runs.Count, describe, NotFinal);
        }
        if (runs.Count > 1)
        {
            return new(target, runs.Count, describe, DoubleInstall);
        }
        // What the manager's record says the install command did: ended with this code, or never ran.
        var recordedRun = target.Status.IsSuccess() ? 0 : target.Status == TargetStatus.Failed ? target.ExitCode : null;
        if (runs.Count == 1 && recordedRun != runs[0])
        {
            return new(target, runs.Count, describe, LostResult);
        }
        if (runs.Count == 0 && recordedRun is not null)
        {
            return new(target, runs.Count, describe, ResultWithoutInstall);
        }
        var planned = InstallLedger.FailsOnPurpose(job, target.HostName) ? SoakPlan.FailureExitCode : 0;
        if (recordedRun != planned)
        {
            return new(target, runs.Count, describe, UnexpectedOutcome);
        }
        return new(target, runs.Count, null, AsPlanned);
    }
}
