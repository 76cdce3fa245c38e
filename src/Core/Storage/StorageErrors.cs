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

    /// <summary>True for an error the database itself raised (not a rule of ours that refused a change).</summary>
    public static bool IsDatabaseError(Exception e) => e is DbException || e.InnerException is DbException && e is DbUpdateException;
}
