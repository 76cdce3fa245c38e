using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Storage;

/// <summary>
/// Opens the SQLite database of a data folder: schema by migrations, WAL so that a cmdlet and a
/// running manager read while the other writes, and a busy timeout so that writers queue instead of failing.
/// </summary>
public sealed class DistDatabase
{
    /// <summary>How long a writer waits for the lock before SQLite gives up.</summary>
    public const int BusyTimeoutSeconds = 30;

    private static readonly ConcurrentDictionary<string, Lazy<bool>> Migrated = new(StringComparer.Ordinal);
    private readonly DbContextOptions<DistDbContext> _options;

    public DistDatabase(DataFolder folder)
    {
        Folder = folder;
        ConnectionString = BuildConnectionString(folder.DatabasePath);
        _options = new DbContextOptionsBuilder<DistDbContext>()
            .UseSqlite(ConnectionString)
            .AddInterceptors(new BusyTimeoutInterceptor())
            .Options;
    }

    public DataFolder Folder { get; }

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
        return new DistDbContext(_options);
    }

    /// <summary>Applies pending migrations once per process and file, and turns WAL on (a property of the file).</summary>
    public void EnsureMigrated()
    {
        Migrated.GetOrAdd(ConnectionString, _ => new Lazy<bool>(() =>
        {
            Folder.EnsureCreated();
            using var context = new DistDbContext(_options);
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
