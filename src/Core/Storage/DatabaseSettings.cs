using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace JP1Dist.Core.Storage;

/// <summary>Which database engine holds a manager's tables.</summary>
public enum DatabaseProvider
{
    /// <summary>A SQLite file in the data folder: the embedded default, nothing to install.</summary>
    Sqlite,

    /// <summary>A PostgreSQL database, for many agents and for several manager nodes sharing one database.</summary>
    PostgreSql,
}

/// <summary>
/// The database a data folder's engine uses. Chosen, first to last, by an explicit setting (<c>jp1dist manager
/// --database</c>), the <c>JP1DIST_DATABASE</c> environment variable, the choice recorded in the data folder
/// (<c>database.conf</c>, written by <c>jp1dist manager --database</c> so that cmdlets on the same folder find the same
/// database), else the SQLite file in the data folder.
/// </summary>
public sealed record DatabaseSettings(DatabaseProvider Provider, string ConnectionString)
{
    /// <summary>The environment variable the manager, the relay and the cmdlets read.</summary>
    public const string Variable = "JP1DIST_DATABASE";

    /// <summary>The file in a data folder that records its database.</summary>
    public const string FileName = "database.conf";

    /// <summary>The longest setting accepted (a connection string is a line, not a document).</summary>
    public const int MaxLength = 4096;

    /// <summary>The SQLite file of <paramref name="folder"/>.</summary>
    public static DatabaseSettings SqliteIn(DataFolder folder) => new(DatabaseProvider.Sqlite, DistDatabase.BuildConnectionString(folder.DatabasePath));

    /// <summary>
    /// Reads a setting: a PostgreSQL connection string (<c>Host=…;Database=…</c>, Npgsql's keywords), or
    /// <c>Data Source=path</c> for a SQLite file. Anything else is refused with the reason.
    /// </summary>
    /// <param name="text">The setting.</param>
    /// <param name="source">Where the text came from, named in an error.</param>
    public static DatabaseSettings Parse(string? text, string source)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ArgumentException($"The database setting from {source} is empty: give a PostgreSQL connection string such as \"Host=db1;Database=jp1dist;Username=jp1dist\".");
        }
        text = text.Trim();
        if (text.Length > MaxLength || text.Any(char.IsControl))
        {
            throw new ArgumentException($"The database setting from {source} is not a connection string (over {MaxLength} characters or a control character).");
        }
        DbConnectionStringBuilder generic;
        try
        {
            generic = new DbConnectionStringBuilder { ConnectionString = text };
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The database setting from {source} is not a connection string: {e.Message}", e);
        }
        if (generic.ContainsKey("Host") || generic.ContainsKey("Server"))
        {
            NpgsqlConnectionStringBuilder postgres;
            try
            {
                postgres = new NpgsqlConnectionStringBuilder(text);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
            {
                throw new ArgumentException($"The PostgreSQL connection string from {source} is not valid: {e.Message}", e);
            }
            if (string.IsNullOrWhiteSpace(postgres.Database))
            {
                throw new ArgumentException($"The PostgreSQL connection string from {source} names no database: add \"Database=<name>\".");
            }
            return new DatabaseSettings(DatabaseProvider.PostgreSql, postgres.ConnectionString);
        }
        if (generic.ContainsKey("Data Source") || generic.ContainsKey("DataSource") || generic.ContainsKey("Filename"))
        {
            SqliteConnectionStringBuilder sqlite;
            try
            {
                sqlite = new SqliteConnectionStringBuilder(text);
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                throw new ArgumentException($"The SQLite connection string from {source} is not valid: {e.Message}", e);
            }
            if (string.IsNullOrWhiteSpace(sqlite.DataSource) || sqlite.DataSource == ":memory:")
            {
                throw new ArgumentException($"The SQLite connection string from {source} names no file.");
            }
            return new DatabaseSettings(DatabaseProvider.Sqlite, DistDatabase.BuildConnectionString(Path.GetFullPath(sqlite.DataSource)));
        }
        throw new ArgumentException($"The database setting from {source} names neither a PostgreSQL server (Host=…) nor a SQLite file (Data Source=…).");
    }

    /// <summary>The setting for <paramref name="folder"/>: <paramref name="explicitSetting"/>, else the environment, else the folder's record, else its SQLite file.</summary>
    public static DatabaseSettings Resolve(DataFolder folder, string? explicitSetting = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitSetting))
        {
            return Parse(explicitSetting, "--database");
        }
        if (Environment.GetEnvironmentVariable(Variable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return Parse(fromEnvironment, $"the {Variable} environment variable");
        }
        var recorded = RecordPath(folder);
        if (File.Exists(recorded))
        {
            var info = new FileInfo(recorded);
            if (info.Length > MaxLength)
            {
                throw new InvalidDataException($"{recorded} is over {MaxLength} bytes: it is not a database setting.");
            }
            return Parse(File.ReadAllText(recorded, Encoding.UTF8), recorded);
        }
        return SqliteIn(folder);
    }

    /// <summary>Where <paramref name="folder"/> records its database.</summary>
    public static string RecordPath(DataFolder folder) => Path.Combine(folder.Root, FileName);

    /// <summary>
    /// Records this setting in <paramref name="folder"/> (readable by its owner only: it may hold a password), replacing
    /// the file whole so that a reader never sees half of it. The SQLite file of the folder itself is the default and
    /// removes the record.
    /// </summary>
    public void RecordIn(DataFolder folder)
    {
        folder.EnsureCreated();
        var path = RecordPath(folder);
        if (this == SqliteIn(folder))
        {
            File.Delete(path);
            return;
        }
        var temporary = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(ConnectionString + "\n"));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>The setting with any password removed, for logs and errors.</summary>
    public string Describe()
    {
        if (Provider == DatabaseProvider.Sqlite)
        {
            return "SQLite " + new SqliteConnectionStringBuilder(ConnectionString).DataSource;
        }
        var postgres = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"PostgreSQL {postgres.Host}:{postgres.Port}/{postgres.Database}";
    }

    /// <inheritdoc/>
    public override string ToString() => Describe();
}
