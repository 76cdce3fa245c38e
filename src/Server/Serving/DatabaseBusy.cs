using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Serving;

/// <summary>
/// Requests a node answered 503 DatabaseBusy because its database could not do the work now (<see
/// cref="Core.Storage.StorageErrors.IsUnavailable"/>: no connection left in the pool, the server refusing more, SQLite
/// busy past its timeout or unable to open a file): counted (jp1dist_database_busy_total) and logged at most once per
/// <see cref="ConnectionBudget.LogEvery"/>, never a stack trace per request. The client comes back after its back-off.
/// </summary>
public sealed class DatabaseBusy(ILoggerFactory logs, TimeProvider? time = null)
{
    /// <summary>The error id of the 503.</summary>
    public const string ErrorId = "DatabaseBusy";

    private readonly ILogger _logger = logs.CreateLogger("JP1Dist.Serving");
    private readonly LogTurns _turns = new(time ?? TimeProvider.System, ConnectionBudget.LogEvery);

    /// <summary>Requests answered DatabaseBusy since the node started.</summary>
    public long Count => _turns.Total;

    /// <summary>Counts one, and logs now and then what the database said.</summary>
    public void Refused(string? path, Exception error)
    {
        if (_turns.Count(out var since))
        {
            _logger.LogWarning("The database could not answer {Count} request(s) since the last such line (the latest {Path}): {Error} They were answered "
                + "503 DatabaseBusy and their clients come back later (jp1dist_database_busy_total)", since, path ?? "?", Innermost(error).Message);
        }
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null && e is not System.Data.Common.DbException)
        {
            e = e.InnerException;
        }
        return e;
    }
}
