using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using JP1Dist.Core.Storage;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A database that cannot do the work now (busy, no connection left, refusing more) is answered 503 DatabaseBusy with
/// Retry-After, counted and logged now and then, and the node serves on; a refusal for what a statement says is not.
/// </summary>
public sealed class DatabaseBusyTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "jp1dist-busy-" + Guid.NewGuid().ToString("N")[..8]);

    public DatabaseBusyTests() => Directory.CreateDirectory(_folder);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public void Errors_that_pass_with_time_are_told_from_refusals()
    {
        var path = Path.Combine(_folder, "busy.db");
        using var holder = new SqliteConnection($"Data Source={path};Pooling=False");
        holder.Open();
        Execute(holder, "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);");
        Execute(holder, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1);");
        using var waiter = new SqliteConnection($"Data Source={path};Pooling=False;Default Timeout=1");
        waiter.Open();
        Execute(waiter, "PRAGMA busy_timeout=0;");
        Assert.True(StorageErrors.IsUnavailable(Assert.ThrowsAny<SqliteException>(() => Execute(waiter, "BEGIN IMMEDIATE;"))));
        Execute(holder, "COMMIT;");

        // No file to open (a missing folder here; no descriptor left under load), and wrapped as EF Core wraps it.
        var cannotOpen = Assert.ThrowsAny<SqliteException>(() =>
        {
            using var missing = new SqliteConnection($"Data Source={Path.Combine(_folder, "no", "such.db")};Mode=ReadWrite;Pooling=False");
            missing.Open();
        });
        Assert.True(StorageErrors.IsUnavailable(cannotOpen));
        Assert.True(StorageErrors.IsUnavailable(new InvalidOperationException("wrapped", cannotOpen)));

        // A PostgreSQL server that cannot be reached is one (Npgsql's transient errors).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var postgres = new NpgsqlConnection($"Host=127.0.0.1;Port={closedPort};Username=x;Password=x;Timeout=5;Pooling=false");
        Assert.True(StorageErrors.IsUnavailable(Assert.ThrowsAny<NpgsqlException>(postgres.Open)));

        // A statement refused for what it says is not.
        Assert.False(StorageErrors.IsUnavailable(Assert.ThrowsAny<SqliteException>(() => Execute(holder, "INSERT INTO t VALUES (1);"))));
        Assert.False(StorageErrors.IsUnavailable(Assert.ThrowsAny<SqliteException>(() => Execute(holder, "SELECT nonsense FROM t;"))));
        Assert.False(StorageErrors.IsUnavailable(new PostgresException("duplicate", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation)));
        Assert.True(StorageErrors.IsUnavailable(new PostgresException("too many", "FATAL", "FATAL", PostgresErrorCodes.TooManyConnections)));
    }

    [Fact]
    public async Task A_request_the_database_cannot_serve_now_is_answered_503_and_the_node_serves_on()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(sp => new DatabaseBusy(sp.GetRequiredService<ILoggerFactory>()));
        await using var app = builder.Build();
        app.UseDistProblemDetails();
        var missing = Path.Combine(_folder, "no", "such.db");
        app.MapGet("/busy", () =>
        {
            using var connection = new SqliteConnection($"Data Source={missing};Mode=ReadWrite;Pooling=False");
            connection.Open(); // SQLite error 14, as when no descriptor is left
            return "opened";
        });
        app.MapGet("/fine", () => "fine");
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync("/busy");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(DatabaseBusy.ErrorId, problem.RootElement.GetProperty("errorId").GetString());
        }
        Assert.Equal(3, app.Services.GetRequiredService<DatabaseBusy>().Count);
        Assert.Equal("fine", await client.GetStringAsync("/fine"));
        await app.StopAsync();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
