using Xunit;

namespace JP1Dist.Tests;

/// <summary>
/// A test of something only SQLite has (a file's text encoding of a value, SQLite's own triggers, the upgrade of data
/// written by builds that knew only SQLite): skipped, with the reason, when the suite runs on PostgreSQL.
/// </summary>
public sealed class SqliteOnlyFactAttribute : FactAttribute
{
    public SqliteOnlyFactAttribute(string reason)
    {
        if (TestDatabase.IsPostgreSql)
        {
            Skip = "SQLite only: " + reason;
        }
    }
}

/// <summary>
/// A test of something only PostgreSQL has (writers whose transactions run side by side, where SQLite runs one at a time):
/// skipped, with the reason, when the suite runs on SQLite.
/// </summary>
public sealed class PostgreSqlOnlyFactAttribute : FactAttribute
{
    public PostgreSqlOnlyFactAttribute(string reason)
    {
        if (!TestDatabase.IsPostgreSql)
        {
            Skip = "PostgreSQL only: " + reason;
        }
    }
}
