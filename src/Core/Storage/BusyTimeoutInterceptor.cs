using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace JP1Dist.Core.Storage;

/// <summary>
/// Sets SQLite's own busy timeout on every connection the engine opens. Microsoft.Data.Sqlite does not set it:
/// on a locked database it retries in its own loop that sleeps 150 ms between attempts, so concurrent writers
/// (reports from many agents) wait in 150 ms steps although the lock is held for about a millisecond.
/// </summary>
internal sealed class BusyTimeoutInterceptor : DbConnectionInterceptor
{
    private static readonly string Pragma = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {DistDatabase.BusyTimeoutSeconds * 1000};");

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    /// <summary>The native handles that have the timeout already: a pooled handle keeps it, so each is set once.</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> Done = new();

    private static void Apply(DbConnection connection)
    {
        if (connection is Microsoft.Data.Sqlite.SqliteConnection { Handle: { } handle } && Done.TryGetValue(handle, out _))
        {
            return;
        }
        if (connection is Microsoft.Data.Sqlite.SqliteConnection { Handle: { } fresh })
        {
            Done.AddOrUpdate(fresh, fresh);
        }
        using var command = connection.CreateCommand();
        command.CommandText = Pragma;
        command.ExecuteNonQuery();
    }
}
