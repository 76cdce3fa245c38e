namespace JP1Dist.Contracts;

/// <summary>The audit log: every change made through these services, who made it, from where, to what. Get-DistAuditLog.</summary>
public interface IAuditService
{
    /// <summary>
    /// The entries the query selects, newest first, at most <see cref="AuditQuery.First"/> of them. The log is append-only:
    /// nothing in these services changes or removes an entry. AuditFirstInvalid for a bound out of range.
    /// </summary>
    Task<IReadOnlyList<DistAuditEntry>> ListAsync(AuditQuery query, CancellationToken cancellationToken = default);
}

/// <summary>
/// Filters for Get-DistAuditLog: entries at or after <see cref="Since"/>, whose principal, operation and target match the
/// wildcard patterns (each optional), the newest <see cref="First"/> of them.
/// </summary>
public sealed record AuditQuery(DateTime? Since = null, string? Principal = null, string? Operation = null, string? Target = null, int First = AuditQuery.DefaultFirst)
{
    /// <summary>How many entries a query returns when it does not say.</summary>
    public const int DefaultFirst = 1000;

    /// <summary>The most entries one query returns.</summary>
    public const int MaxFirst = 100_000;
}

/// <summary>Whether an audited change was made, or refused because the caller's role does not allow it.</summary>
public enum AuditOutcome
{
    Succeeded,
    Denied,
}

/// <summary>
/// One entry of the audit log: when (local time), who (an access key's name, or the operating system user of a process on
/// the manager's computer), from where ("local", or the address a request came from), which operation (a cmdlet name, see
/// <see cref="DistOperations"/>), on what (a job or host name, <c>package@version</c>, …), the parameters as JSON (never a
/// secret), and whether it was done or denied. Id orders the entries as they were written.
/// </summary>
public sealed record DistAuditEntry(long Id, DateTime Time, string Principal, string Source, string Operation, string Target, string Parameters, AuditOutcome Outcome);
