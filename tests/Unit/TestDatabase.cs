using JP1Dist.Core;
using JP1Dist.Core.Storage;
using Npgsql;

namespace JP1Dist.Tests;

/// <summary>
/// Which database the tests' data folders use. By default each uses its own SQLite file, as the product does. When
/// <see cref="ProviderVariable"/> is <c>postgresql</c>, every scratch data folder gets a database of its own on a
/// PostgreSQL server (<see cref="ServerVariable"/>, else a temporary one <see cref="PostgresServer"/> starts), recorded in
/// the folder's database.conf: the product's own record, so the in-process engine, the cmdlets and every manager process
/// started on that folder use it without being told.
/// </summary>
public static class TestDatabase
{
    /// <summary><c>sqlite</c> (default) or <c>postgresql</c>.</summary>
    public const string ProviderVariable = "JP1DIST_TEST_DATABASE";

    /// <summary>A PostgreSQL server to use instead of starting one (a connection string without a database, as a superuser).</summary>
    public const string ServerVariable = "JP1DIST_TEST_POSTGRES";

    private static readonly Lazy<string> Template = new(CreateTemplate, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when the tests run on PostgreSQL: the tests/Postgres build of this suite, or the variable says so.</summary>
    public static bool IsPostgreSql { get; } =
#if POSTGRESQL_SUITE
        true;
#else
        string.Equals(Environment.GetEnvironmentVariable(ProviderVariable), "postgresql", StringComparison.OrdinalIgnoreCase);
#endif

    /// <summary>Null when a PostgreSQL server is at hand (starting one if needed), else why not.</summary>
    public static string? PostgresUnavailable()
    {
        try
        {
            using var connection = new NpgsqlConnection(Admin("postgres"));
            connection.Open();
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or NpgsqlException or IOException or System.ComponentModel.Win32Exception)
        {
            return e.Message;
        }
    }

    /// <summary>The name shown in test output.</summary>
    public static string Name => IsPostgreSql ? "PostgreSQL" : "SQLite";

    /// <summary>
    /// Makes <paramref name="home"/> use a fresh database of the tests' provider, unless it has one already (nothing to do
    /// for SQLite: the folder's own file).
    /// </summary>
    public static void Prepare(string home)
    {
        if (IsPostgreSql && !File.Exists(DatabaseSettings.RecordPath(new DataFolder(home))))
        {
            NewPostgresDatabase().RecordIn(new DataFolder(home));
        }
    }

    /// <summary>An engine on <paramref name="home"/>, prepared by <see cref="Prepare"/>.</summary>
    public static DistEngine Engine(string home, TimeProvider? time = null)
    {
        Prepare(home);
        return new DistEngine(new DataFolder(home), time);
    }

    /// <summary>
    /// The <c>JP1DIST_DATABASE</c> value a child process that makes its own data folders should get (a Pester file: one
    /// process, one fresh database); null on SQLite.
    /// </summary>
    public static string? NewDatabaseSetting() => IsPostgreSql ? NewPostgresDatabase().ConnectionString : null;

    /// <summary>SQL that makes every insert into <paramref name="table"/> fail with <paramref name="message"/> (a fault such as a full disk).</summary>
    public static string FailInsertsInto(string table, string message) => IsPostgreSql
        ? $"CREATE FUNCTION \"TestFault_{table}\"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$; "
          + $"CREATE TRIGGER \"TestFault_{table}\" BEFORE INSERT ON \"{table}\" FOR EACH ROW EXECUTE FUNCTION \"TestFault_{table}\"();"
        : $"CREATE TRIGGER TestFault_{table} BEFORE INSERT ON \"{table}\" BEGIN SELECT RAISE(ABORT, '{message}'); END;";

    /// <summary>Undoes <see cref="FailInsertsInto"/>.</summary>
    public static string StopFailingInserts(string table) => IsPostgreSql
        ? $"DROP TRIGGER \"TestFault_{table}\" ON \"{table}\"; DROP FUNCTION \"TestFault_{table}\"();"
        : $"DROP TRIGGER TestFault_{table};";

    /// <summary>A new, empty, migrated database, copied from a template migrated once per test run.</summary>
    public static DatabaseSettings NewPostgresDatabase()
    {
        var template = Template.Value;
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        using (var connection = new NpgsqlConnection(Admin("postgres")))
        {
            connection.Open();
            using var create = connection.CreateCommand();
            create.CommandText = $"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"";
            create.ExecuteNonQuery();
        }
        return new DatabaseSettings(DatabaseProvider.PostgreSql, Admin(name));
    }

    private static string Server =>
        Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } given ? given : PostgresServer.Shared.ConnectionString;

    // Idle connections close within seconds: hundreds of test databases must not hold the server's connection slots.
    private static string Admin(string database) =>
        new NpgsqlConnectionStringBuilder(Server) { Database = database, ConnectionIdleLifetime = 5, ConnectionPruningInterval = 1 }.ConnectionString;

    /// <summary>Drops the database <paramref name="home"/> recorded (if the tests gave it one), after closing this process's connections to it.</summary>
    public static void Release(string home)
    {
        var record = DatabaseSettings.RecordPath(new DataFolder(home));
        if (!IsPostgreSql || !File.Exists(record))
        {
            return;
        }
        Drop(DatabaseSettings.Parse(File.ReadAllText(record), record));
    }

    /// <summary>Drops a database <see cref="NewPostgresDatabase"/> made, after closing this process's connections to it.</summary>
    public static void Drop(DatabaseSettings settings) => PostgresServer.DropDatabase(Admin("postgres"), settings.ConnectionString);

    private static string CreateTemplate()
    {
        var name = $"jp1dist_template_{Environment.ProcessId}_{Guid.NewGuid().ToString("N")[..6]}";
        var settings = new DatabaseSettings(DatabaseProvider.PostgreSql, Admin(name));
        var scratch = Path.Combine(Path.GetTempPath(), "jp1dist-template-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            new DistDatabase(new DataFolder(scratch), settings).EnsureMigrated(); // creates the database, then migrates it
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
        // A template must have no connections while it is copied.
        NpgsqlConnection.ClearAllPools();
        return name;
    }
}
