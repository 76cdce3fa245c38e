using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace JP1Dist.Core.Storage;

/// <summary>
/// Opens a data folder's database, schema by migrations. On SQLite (the default, a file in the folder): WAL so that a
/// cmdlet and a running manager read while the other writes, and a busy timeout so that writers queue instead of
/// failing. On PostgreSQL (<see cref="DatabaseSettings"/>): the same model through Npgsql, with its own migrations.
/// </summary>
public sealed class DistDatabase
{
    /// <summary>How long a writer waits for the lock before SQLite gives up.</summary>
    public const int BusyTimeoutSeconds = 30;

    /// <summary>
    /// How a query's list (<c>ids.Contains(t.Id)</c>) reaches the database: as one parameter, a JSON array read by
    /// json_each on SQLite and an array on PostgreSQL. EF Core's default sends each element as its own SQL parameter, and
    /// then every execution builds its SQL again for that count (nothing to cache), binds N named parameters (SQLite finds
    /// each name by a walk of the statement's list: N² comparisons), and SQLite compiles a statement as long as the list.
    /// On the manager's hot paths (a batch of reports, a dispatch's 500 hosts, last-seen times) that was work repeated on
    /// every statement, though a job's CPU at 10,000 agents did not move beyond the noise (docs/benchmarks.md); and a list
    /// past SQLite's 32,766 variables (a job naming 100,000 hosts) failed. EF Core writes the JSON of a SQLite Guid
    /// upper-case, as it stores Guids on SQLite, so a list of Guids matches the stored text. A list, an array or a HashSet:
    /// EF Core 10 still sends an IReadOnlySet or a collection type of its own as one parameter per element.
    /// </summary>
    internal const ParameterTranslationMode CollectionParameters = ParameterTranslationMode.Parameter;

    private static readonly ConcurrentDictionary<string, Lazy<bool>> Migrated = new(StringComparer.Ordinal);
    // Contexts come from a pool: a new context builds its own service scope and resolves its services on first use; on
    // the manager's hot paths (a look, a report, a content request) that was about as much CPU as the queries themselves.
    // (EF Core still registers its SQLite functions on every open, pooled or not.) A returned context is reset (tracking, transaction, connection,
    // AutoSavepointsEnabled), so a lease starts as a new context would.
    private readonly PooledDbContextFactory<DistDbContext>? _sqlite;
    private readonly PooledDbContextFactory<PostgresDistDbContext>? _postgres;

    /// <param name="folder">The data folder: the SQLite file, and the record of another database.</param>
    /// <param name="settings">The database; when not given, the one <see cref="DatabaseSettings.Resolve"/> finds for the folder.</param>
    public DistDatabase(DataFolder folder, DatabaseSettings? settings = null)
    {
        Folder = folder;
        Settings = settings ?? DatabaseSettings.Resolve(folder);
        ConnectionString = Settings.ConnectionString;
        if (Settings.Provider == DatabaseProvider.PostgreSql)
        {
            _postgres = new PooledDbContextFactory<PostgresDistDbContext>(new DbContextOptionsBuilder<PostgresDistDbContext>()
                .UseNpgsql(ConnectionString, o => o.UseParameterizedCollectionMode(CollectionParameters))
                .Options);
        }
        else
        {
            _sqlite = new PooledDbContextFactory<DistDbContext>(new DbContextOptionsBuilder<DistDbContext>()
                .UseSqlite(ConnectionString, o => o.UseParameterizedCollectionMode(CollectionParameters))
                .AddInterceptors(new BusyTimeoutInterceptor())
                .Options);
        }
    }

    public DataFolder Folder { get; }

    /// <summary>Which database, and where.</summary>
    public DatabaseSettings Settings { get; }

    /// <summary>True on PostgreSQL, where several manager nodes may share the database.</summary>
    public bool IsPostgreSql => Settings.Provider == DatabaseProvider.PostgreSql;

    /// <summary>The connection string the engine and Quartz share.</summary>
    public string ConnectionString { get; }

    /// <summary>A connection string for the file at <paramref name="path"/> with the shared busy timeout.</summary>
    public static string BuildConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        DefaultTimeout = BusyTimeoutSeconds,
        Pooling = true,
    }.ToString();

    /// <summary>A new context; callers dispose it. Migrates the database the first time a process opens it.</summary>
    public DistDbContext CreateContext()
    {
        EnsureMigrated();
        return NewContext();
    }

    private DistDbContext NewContext() => _postgres is not null ? _postgres.CreateDbContext() : _sqlite!.CreateDbContext();

    /// <summary>
    /// Applies pending migrations once per process and database, and on SQLite turns WAL on (a property of the file).
    /// Several processes migrating one PostgreSQL database at once wait for each other (EF Core holds a lock on the
    /// migrations history while it applies them).
    /// </summary>
    public void EnsureMigrated()
    {
        Migrated.GetOrAdd(ConnectionString, _ => new Lazy<bool>(() =>
        {
            Folder.EnsureCreated();
            using var context = NewContext();
            if (_postgres is not null)
            {
                context.Database.Migrate();
                return true;
            }
            context.Database.OpenConnection();
            try
            {
                context.Database.ExecuteSqlRaw("PRAGMA journal_mode=WAL;");
                context.Database.Migrate();
            }
            finally
            {
                context.Database.CloseConnection();
            }
            return true;
        })).Value.ToString();
    }
}
