using System.Globalization;
using System.Text.Json;
using JP1Dist.Bench.Baseline;
using JP1Dist.Tests;
using Npgsql;

// The baseline benchmark: time from executing a job to its last result, for N simulated agents, against a ping reference.
// Progress goes to stderr; stdout carries only the JSON document and the one-line summary. Started with the hidden argument
// `client`, this executable is one of the client processes that hold the simulated agents (ClientProcess).

if (args is [ClientCommands.Argument, .. var clientArgs])
{
    return await ClientProcess.RunAsync(clientArgs);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
// Killed politely (SIGTERM) as by Ctrl+C: the round stops its processes and deletes its folder before exiting.
using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

// On PostgreSQL, one throw-away server for the run (made as the tests make theirs, but durable: fsync, full-page writes and
// synchronous commits on, as SQLite's commits are), a fresh database per round; the server is stopped and removed at the
// end, after a failed round or Ctrl+C too (and, were this process to end another way, when it exits).
PostgresServer? postgres = null;
var database = "SQLite: the data folder's file (WAL)";
if (options.Database == BenchDatabase.PostgreSql)
{
    Console.Error.WriteLine("starting a throw-away PostgreSQL server");
    try
    {
        postgres = PostgresServer.StartNew(durable: true);
        using var connection = new NpgsqlConnection(postgres.ConnectionString);
        connection.Open();
        database = $"PostgreSQL {connection.PostgreSqlVersion} (throw-away server on 127.0.0.1:{postgres.Port}, data {postgres.DataDirectory}; "
            + (postgres.Durable ? "durable: fsync, full_page_writes, synchronous_commit on" : "not durable: fsync, full_page_writes, synchronous_commit off")
            + "; max_connections 500; shared_buffers 128MB, the default; "
            + "the manager's connection string gives only host, port, user and database: Npgsql's default pool, 100 connections)";
        Console.Error.WriteLine(database);
    }
    catch (Exception e) when (e is InvalidOperationException or NpgsqlException or System.ComponentModel.Win32Exception)
    {
        postgres?.Dispose();
        Console.Error.WriteLine($"The PostgreSQL server could not be started: {e.Message}");
        return 1;
    }
}

var rounds = new List<RoundResult>();
try
{
    foreach (var agents in options.AgentCounts)
    {
        rounds.Add(await BaselineRound.RunAsync(agents, options, postgres, Console.Error, stop.Token));
        if (stop.IsCancellationRequested)
        {
            break;
        }
    }
}
finally
{
    postgres?.Dispose();
}

#if DEBUG
const string build = "Debug";
#else
const string build = "Release";
#endif
var report = new BaselineReport("baseline: job to last result", BaselineRound.ManagerMode(options.Database), database, build, options.Parallelism,
    (int)BaselineRound.LongPollWait.TotalSeconds, BaselineRound.PackageBytes, MachineInfo.Current(), rounds);
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
Console.WriteLine("baseline: " + string.Join("; ", rounds.Select(Summarize)));
return rounds.All(r => r.Error is null) ? 0 : 1;

static string Summarize(RoundResult r) => r.Error is not null
    ? $"{r.Agents} agents FAILED ({r.Error})"
    : string.Create(CultureInfo.InvariantCulture, $"{r.Agents} agents {r.SecondsToLastResult:0.00} s (ping ref {r.ReferenceSeconds:0.00} s, x{r.Ratio:0.0})");
