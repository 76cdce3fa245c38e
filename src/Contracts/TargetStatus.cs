using JP1Dist.Protocol;

namespace JP1Dist.Contracts;

/// <summary>The state of one (job, host) target, as FEATURES.md section 4 names them.</summary>
public enum TargetStatus
{
    /// <summary>The job was executed; the target waits for the execution time (or for a manager to schedule it).</summary>
    Waiting = 0,
    /// <summary>The execution time has come; the work waits for the host's next connection.</summary>
    Queued = 1,
    /// <summary>The host has taken the work and is downloading the package.</summary>
    Transferring = 2,
    /// <summary>The package is on the host, verified, waiting for its install time.</summary>
    Transferred = 3,
    /// <summary>The install command is running on the host.</summary>
    Installing = 4,
    /// <summary>The install command ended with a success exit code.</summary>
    Succeeded = 5,
    /// <summary>The transfer or the install failed; ExitCode and Message say why.</summary>
    Failed = 6,
    /// <summary>An install condition was not met on the host; Message names it. Not an error, not retried.</summary>
    ConditionNotMet = 7,
    /// <summary>The administrator suspended the target; it resumes where it stopped.</summary>
    Suspended = 8,
    /// <summary>The administrator canceled the target.</summary>
    Canceled = 9,
    /// <summary>For transfer-to-relay jobs: the package is stored on the relay until it expires.</summary>
    StoredOnRelay = 10,
    /// <summary>The install command ended with one of the package's reboot codes: installed, and the computer must restart to finish.</summary>
    SucceededRebootRequired = 11,
    /// <summary>For user-choice jobs: the package is offered on the host; its user installs it when they choose (jp1dist install).</summary>
    Available = 12,
}

/// <summary>The transitions a target may make, listed in one place; every change is a compare-and-set on these.</summary>
public static class TargetStates
{
    private static readonly Dictionary<TargetStatus, TargetStatus[]> Allowed = new()
    {
        // Waiting -> ConditionNotMet: the manager's pre-check at dispatch, on the facts it knows about the host.
        [TargetStatus.Waiting] = [TargetStatus.Queued, TargetStatus.ConditionNotMet, TargetStatus.Suspended, TargetStatus.Canceled],
        // -> StoredOnRelay: a relay stored the package of a transfer-to-relay job (DistributionService.ReportAsync allows it for those only).
        // -> Available: the agent offers a user-choice package to its user (DistributionService.ReportAsync allows it for those only);
        // from Transferring or Transferred as well, when a user's install was cut short before it ran and the agent offers it again.
        [TargetStatus.Queued] = [TargetStatus.Transferring, TargetStatus.Transferred, TargetStatus.Installing, TargetStatus.Succeeded, TargetStatus.SucceededRebootRequired, TargetStatus.Failed, TargetStatus.ConditionNotMet, TargetStatus.Suspended, TargetStatus.Canceled, TargetStatus.StoredOnRelay, TargetStatus.Available],
        [TargetStatus.Transferring] = [TargetStatus.Transferred, TargetStatus.Installing, TargetStatus.Succeeded, TargetStatus.SucceededRebootRequired, TargetStatus.Failed, TargetStatus.ConditionNotMet, TargetStatus.Suspended, TargetStatus.Canceled, TargetStatus.StoredOnRelay, TargetStatus.Available],
        [TargetStatus.Transferred] = [TargetStatus.Installing, TargetStatus.Succeeded, TargetStatus.SucceededRebootRequired, TargetStatus.Failed, TargetStatus.ConditionNotMet, TargetStatus.Suspended, TargetStatus.Canceled, TargetStatus.Available],
        // The user chose to install: the same way as an install job from here on. Not suspended (nothing is under way).
        [TargetStatus.Available] = [TargetStatus.Transferring, TargetStatus.Transferred, TargetStatus.Installing, TargetStatus.Succeeded, TargetStatus.SucceededRebootRequired, TargetStatus.Failed, TargetStatus.ConditionNotMet, TargetStatus.Canceled],
        // An install under way finishes: it cannot be suspended or canceled.
        [TargetStatus.Installing] = [TargetStatus.Succeeded, TargetStatus.SucceededRebootRequired, TargetStatus.Failed],
        // Resuming goes back to Waiting when the execution has not been dispatched yet, else to Queued.
        [TargetStatus.Suspended] = [TargetStatus.Waiting, TargetStatus.Queued, TargetStatus.Canceled],
        // Final states leave only through re-execution, which starts a new attempt.
        [TargetStatus.Succeeded] = [],
        [TargetStatus.SucceededRebootRequired] = [],
        [TargetStatus.Failed] = [],
        [TargetStatus.ConditionNotMet] = [],
        [TargetStatus.Canceled] = [],
        [TargetStatus.StoredOnRelay] = [],
    };

    /// <summary>The states in which a host is served its work item (by the manager, or by its relay from the snapshot).</summary>
    public static readonly TargetStatus[] Servable = [TargetStatus.Queued, TargetStatus.Transferring, TargetStatus.Transferred, TargetStatus.Installing];

    /// <summary>The states an agent (or a relay's client role) may report: the wire's list, <see cref="ReportStatuses.All"/>.</summary>
    public static readonly TargetStatus[] Reportable = ReportStatuses.All.Select(Enum.Parse<TargetStatus>).ToArray();

    /// <summary>The status a report names, by name only; ReportStatusInvalid when it is not one an agent may report.</summary>
    public static TargetStatus ParseReported(string? status) =>
        ReportStatuses.Find(status) is { } name
            ? Enum.Parse<TargetStatus>(name)
            : throw new DistException("ReportStatusInvalid", DistErrorKind.InvalidArgument,
                $"'{status}' is not a status an agent may report; use one of {string.Join(", ", Reportable)}.", status);

    /// <summary>
    /// A status by its name (case-insensitive), never by number: <c>Enum.TryParse</c> would also take "3" or
    /// "Queued, Failed".
    /// </summary>
    public static bool TryParseName(string? name, out TargetStatus status)
    {
        foreach (var candidate in Enum.GetValues<TargetStatus>())
        {
            if (string.Equals(candidate.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                status = candidate;
                return true;
            }
        }
        status = default;
        return false;
    }

    /// <summary>True when the target has reached an outcome and waits for nothing more.</summary>
    public static bool IsFinal(this TargetStatus status) => status is TargetStatus.Succeeded or TargetStatus.SucceededRebootRequired or TargetStatus.Failed
        or TargetStatus.ConditionNotMet or TargetStatus.Canceled or TargetStatus.StoredOnRelay;

    /// <summary>True when the package was installed: Succeeded, or SucceededRebootRequired.</summary>
    public static bool IsSuccess(this TargetStatus status) => status is TargetStatus.Succeeded or TargetStatus.SucceededRebootRequired;

    /// <summary>True when a job in this state still holds its package (removal is refused).</summary>
    public static bool IsActive(this TargetStatus status) => !status.IsFinal();

    /// <summary>Whether a target in <paramref name="from"/> may move to <paramref name="to"/>.</summary>
    public static bool CanMove(TargetStatus from, TargetStatus to) => Allowed[from].Contains(to);

    /// <summary>The states from which a target may move to <paramref name="to"/>.</summary>
    public static TargetStatus[] Predecessors(TargetStatus to) =>
        Allowed.Where(pair => pair.Value.Contains(to)).Select(pair => pair.Key).ToArray();
}
