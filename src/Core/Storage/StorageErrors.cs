using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace JP1Dist.Core.Storage;

/// <summary>What a database error means, the same on SQLite and PostgreSQL.</summary>
public static class StorageErrors
{
    /// <summary>
    /// True when a save was refused because a row with the same key exists (a unique index or key): someone else
    /// created it first. On SQLite that is a constraint error (19); on PostgreSQL a unique violation (23505).
    /// </summary>
    public static bool IsDuplicate(DbUpdateException e) => e.InnerException switch
    {
        SqliteException { SqliteErrorCode: 19 } => true,
        PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } => true,
        _ => false,
    };

    /// <summary>
    /// True when the database could not do the work now but may a little later, whatever the request: SQLite busy or
    /// locked past the busy timeout (5, 6), or unable to open its file (14: no descriptor left, among others); on
    /// PostgreSQL no connection from the pool in time, the server refusing more connections (53300, 57P03), short of
    /// resources (53xxx), a lost connection (08xxx, or Npgsql's own transient errors), or a deadlock or serialization
    /// failure that ended the transaction (40P01, 40001). The node answers 503 and the client comes back.
    /// </summary>
    public static bool IsUnavailable(Exception e)
    {
        for (var current = e; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case SqliteException { SqliteErrorCode: 5 or 6 or 14 }:
                case PostgresException { SqlState: PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.CannotConnectNow
                    or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure }:
                case PostgresException p when p.SqlState.StartsWith("53", StringComparison.Ordinal) || p.SqlState.StartsWith("08", StringComparison.Ordinal):
                    return true;
                case PostgresException:
                    return false; // a statement the server refused for what it says: not a matter of waiting
                case NpgsqlException { IsTransient: true }:
                    return true; // a pool exhausted in time (its inner TimeoutException), a connection lost or refused
            }
        }
        return false;
    }

    /// <summary>True for an error the database itself raised (not a rule of ours that refused a change).</summary>
    public static bool IsDatabaseError(Exception e) => e is DbException || e.InnerException is DbException && e is DbUpdateException;
}
