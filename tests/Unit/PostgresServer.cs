using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace JP1Dist.Tests;

/// <summary>
/// A throw-away PostgreSQL server for the tests: Debian's packages (installed with apt-get when missing and the tests
/// run as root), a cluster in a temporary folder, listening on a free port of 127.0.0.1 only, stopped and removed when
/// the test process ends. initdb refuses root, so as root the server runs as the <c>postgres</c> account.
/// bench/Baseline compiles this file too (linked), to run the manager on a server made the same way.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private static readonly Lazy<PostgresServer> Lazy = new(() => Start(durable: false), LazyThreadSafetyMode.ExecutionAndPublication);
    private int _stopped;

    private readonly string _bin;
    private readonly string _folder;
    private readonly bool _asPostgresUser;

    private PostgresServer(string bin, string folder, int port, bool asPostgresUser)
    {
        _bin = bin;
        _folder = folder;
        _asPostgresUser = asPostgresUser;
        Port = port;
        ConnectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = port, Username = "postgres", Database = "postgres", Pooling = true, MaxPoolSize = 20,
            Timeout = 30, CommandTimeout = 120,
        }.ConnectionString;
    }

    /// <summary>The server every test of this process shares (started on first use).</summary>
    public static PostgresServer Shared => Lazy.Value;

    public int Port { get; }

    /// <summary>The server's log file (its errors and warnings, one per line after a time and process prefix).</summary>
    public string LogPath => Path.Combine(_folder, "server.log");

    /// <summary>The cluster's data directory (postmaster.pid in it names the server's main process).</summary>
    public string DataDirectory => Path.Combine(_folder, "data");

    /// <summary>Whether the server makes its commits durable (fsync, full-page writes and synchronous commits on, PostgreSQL's defaults).</summary>
    public bool Durable { get; private init; }

    /// <summary>A superuser connection to the server's <c>postgres</c> database.</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// Starts a server of its own for the caller, which stops and removes it with <see cref="Dispose"/> (or at the latest
    /// when the process ends). <paramref name="durable"/> keeps PostgreSQL's defaults for fsync, full-page writes and
    /// synchronous commits, as a production server has them; without it (the tests' shared server) they are off.
    /// </summary>
    public static PostgresServer StartNew(bool durable) => Start(durable);

    private static PostgresServer Start(bool durable)
    {
        var bin = FindBin() ?? InstallAndFind() ?? throw new InvalidOperationException(
            "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are missing and `apt-get install postgresql` did not provide them.");
        var root = Environment.UserName == "root";
        RemoveStopped();
        var folder = Path.Combine(Path.GetTempPath(), FolderPrefix + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        if (root)
        {
            Run("chown", "postgres", folder);
        }
        var port = FreePort();
        RunAs(root, Path.Combine(bin, "initdb"), "-D", Path.Combine(folder, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync");
        // Unless durable, a server for tests: nothing it holds needs to survive a crash of the machine.
        var durability = durable ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
        RunAs(root, Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(folder, "data"), "-l", Path.Combine(folder, "server.log"), "-w", "-t", "60",
            "-o", $"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=500{durability}",
            "start");
        var server = new PostgresServer(bin, folder, port, root) { Durable = durable };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.StopDetached();
        return server;
    }

    private const string FolderPrefix = "jp1dist-pg-";

    /// <summary>Removes the folders of earlier runs' servers that no longer run (a run killed before it could clean up).</summary>
    private static void RemoveStopped()
    {
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            if (!File.Exists(Path.Combine(folder, "data", "postmaster.pid")))
            {
                TryDelete(folder);
            }
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Stops the server and removes its folder (once; the shared server is stopped when the process ends).</summary>
    public void Dispose() => Stop();

    private void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        StopNow();
    }

    /// <summary>pg_ctl's immediate stop of this server, waiting for it to end.</summary>
    private string[] StopCommand => CommandAs(_asPostgresUser, Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop");

    private void StopNow()
    {
        try
        {
            NpgsqlConnection.ClearAllPools();
            Run(StopCommand);
        }
        catch (InvalidOperationException)
        {
        }
        TryDelete(_folder);
    }

    /// <summary>
    /// Stops the server and removes its folder from a process of their own, which outlives this one: the test runner ends
    /// the test host shortly after the run, while its exit handlers still run, and a server stopped from there left its
    /// folder (hundreds of MB after the whole suite) until the next run's <see cref="RemoveStopped"/>.
    /// </summary>
    private void StopDetached()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        NpgsqlConnection.ClearAllPools();
        // The folder and the stop command go as the script's arguments, never inside its text.
        const string Script = "folder=$1; shift; \"$@\" >/dev/null 2>&1; rm -rf \"$folder\"";
        try
        {
            // setsid -f: a session of its own, not a child of this process that ending it would take along.
            Process.Start(new ProcessStartInfo("setsid", ["-f", "sh", "-c", Script, "sh", _folder, .. StopCommand]) { UseShellExecute = false })?.Dispose();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            StopNow();
        }
    }

    /// <summary>
    /// Drops the database <paramref name="databaseConnectionString"/> names, through <paramref name="adminConnectionString"/>
    /// (a superuser's connection to another database of the same server), after closing this process's pooled connections to it.
    /// </summary>
    public static void DropDatabase(string adminConnectionString, string databaseConnectionString)
    {
        using (var connection = new NpgsqlConnection(databaseConnectionString))
        {
            NpgsqlConnection.ClearPool(connection);
        }
        var name = new NpgsqlConnectionStringBuilder(databaseConnectionString).Database;
        using var admin = new NpgsqlConnection(adminConnectionString);
        admin.Open();
        using var drop = admin.CreateCommand();
        drop.CommandText = $"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)";
        drop.ExecuteNonQuery();
    }

    private static string? FindBin() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb")) && File.Exists(Path.Combine(b, "pg_ctl")))
                .OrderByDescending(b => b, StringComparer.Ordinal).FirstOrDefault()
            : null;

    private static string? InstallAndFind()
    {
        if (Environment.UserName != "root" || !File.Exists("/usr/bin/apt-get"))
        {
            return null;
        }
        try
        {
            Run("apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql");
        }
        catch (InvalidOperationException)
        {
            try
            {
                Run("apt-get", "update", "-q");
                Run("apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql");
            }
            catch (InvalidOperationException)
            {
                return null;
            }
        }
        return FindBin();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void RunAs(bool asPostgresUser, string program, params string[] arguments) => Run(CommandAs(asPostgresUser, program, arguments));

    /// <summary>A command line, run as the postgres user when this process is root (initdb and the server refuse root).</summary>
    private static string[] CommandAs(bool asPostgresUser, string program, params string[] arguments) =>
        asPostgresUser ? ["runuser", "-u", "postgres", "--", program, .. arguments] : [program, .. arguments];

    private static void Run(string[] command) => Run(command[0], command[1..]);

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start " + program);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{program} did not finish within 5 minutes.");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr.Result}{stdout.Result}");
        }
    }
}
