using JP1Dist.Core.Storage;
using JP1Dist.Tests.Host;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>Which database a data folder uses, and what is refused.</summary>
public sealed class DatabaseSettingsTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-dbsettings-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    [Theory]
    [InlineData("Host=db1;Database=jp1dist;Username=jp1dist", DatabaseProvider.PostgreSql)]
    [InlineData("Server=db1;Port=5433;Database=jp1dist", DatabaseProvider.PostgreSql)]
    [InlineData("Data Source=/var/lib/jp1dist/other.db", DatabaseProvider.Sqlite)]
    public void A_connection_string_names_its_provider(string text, DatabaseProvider provider)
    {
        Assert.Equal(provider, DatabaseSettings.Parse(text, "--database").Provider);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("   ", "is empty")]
    [InlineData("Host=db1;Username=jp1dist", "names no database")]
    [InlineData("Host=db1;Database=x;Port=notanumber", "is not valid")]
    [InlineData("jp1dist.db", "is not a connection string")]
    [InlineData("Database=jp1dist;Username=u", "names neither a PostgreSQL server (Host=…) nor a SQLite file")]
    [InlineData("Data Source=:memory:", "names no file")]
    [InlineData("Host=db1;Database=x\nDrop", "control character")]
    public void A_bad_setting_is_refused_naming_where_it_came_from_and_why(string text, string reason)
    {
        var e = Assert.Throws<ArgumentException>(() => DatabaseSettings.Parse(text, "the JP1DIST_DATABASE environment variable"));
        Assert.Contains("from the JP1DIST_DATABASE environment variable", e.Message, StringComparison.Ordinal);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_folder_record_is_used_after_the_explicit_setting_and_the_environment_and_is_owner_only()
    {
        var folder = new DataFolder(Path.Combine(_root, "home"));
        Assert.Equal(DatabaseSettings.SqliteIn(folder), DatabaseSettings.Resolve(folder, null));

        var recorded = DatabaseSettings.Parse("Host=db1;Database=recorded", "test");
        recorded.RecordIn(folder);
        Assert.Equal("PostgreSQL db1:5432/recorded", DatabaseSettings.Resolve(folder, null).Describe());
        Assert.Equal("PostgreSQL db2:5432/given", DatabaseSettings.Resolve(folder, "Host=db2;Database=given").Describe());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(DatabaseSettings.RecordPath(folder)));
        }
        Assert.Empty(Directory.GetFiles(folder.Root, "*.tmp"));

        // The folder's own SQLite file is the default: recording it removes the record.
        DatabaseSettings.SqliteIn(folder).RecordIn(folder);
        Assert.False(File.Exists(DatabaseSettings.RecordPath(folder)));
    }

    [Fact]
    public void A_password_is_never_shown()
    {
        var settings = DatabaseSettings.Parse("Host=db1;Database=jp1dist;Username=u;Password=secret", "--database");
        Assert.DoesNotContain("secret", settings.Describe(), StringComparison.Ordinal);
        Assert.DoesNotContain("secret", settings.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_manager_given_a_bad_database_setting_refuses_to_start_and_creates_nothing()
    {
        var home = Path.Combine(_root, "refused");
        using var node = NodeProcess.Start(null, "manager", "--listen", "http://127.0.0.1:0", "--home", home, "--database", "Host=db1;Username=u");
        Assert.Equal(2, await node.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("--database", await node.OutputAsync(), StringComparison.Ordinal);
        Assert.Contains("names no database", await node.OutputAsync(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(home), "nothing was created");
    }
}
