// Status benchmark: Get-DistJobStatus over one job with N targets (default 100,000), streamed; and over a mid-sized job
// (every 5th host: N/5 targets), a small one (every 100th host) and every job at once (-Job *).
//  - the engine in-process (IJobService.StreamStatusAsync): time to the first row and to the last, bytes allocated,
//    and the managed heap after a full collection at 10 % and at 90 % of the rows (flat: nothing grows with the rows);
//  - the same through a real `jp1dist manager` process's admin API (RemoteServices.Jobs.StreamStatusAsync);
//  - references in the same run: a raw ADO.NET reader over the very SELECT the engine runs (the floor), and
//    GetStatusAsync, which collects the same rows into a list (the contrast for memory).
// On SQLite (the data folder's file) by default; `--database postgresql` starts a throw-away PostgreSQL server (as the
// tests and bench/Baseline do) and records it in the data folder, as `jp1dist manager --database` does.
// Progress goes to stderr; stdout carries the JSON document and one summary line.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using JP1Dist.Client;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using System.Data.Common;
using JP1Dist.Tests;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

var targetCount = Arg("--targets", 100_000);
var repeats = Arg("--repeats", 3);
var executables = ArgText("--jp1dist") ?? Path.Combine(RepoRoot(), "out", "jp1dist");
var onPostgres = (ArgText("--database") ?? "sqlite") switch
{
    "sqlite" => false,
    "postgresql" => true,
    var other => throw new ArgumentException($"--database takes sqlite or postgresql, not '{other}'."),
};
const string jobName = "status-bench";
const string midJobName = "status-bench-mid";
const string smallJobName = "status-bench-small";

var root = Path.Combine(Path.GetTempPath(), "jp1dist-bench-status-" + Guid.NewGuid().ToString("N")[..8]);
var home = Path.Combine(root, "home");
Process? manager = null;
PostgresServer? postgres = null;
try
{
    var database = "SQLite: the data folder's file (WAL)";
    if (onPostgres)
    {
        Log("starting a throw-away PostgreSQL server");
        postgres = PostgresServer.StartNew(durable: true);
        var settings = new DatabaseSettings(DatabaseProvider.PostgreSql, new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = postgres.Port, Username = "postgres", Database = "status_bench",
        }.ConnectionString);
        settings.RecordIn(new DataFolder(home));
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        database = $"PostgreSQL {connection.PostgreSqlVersion} (throw-away server on 127.0.0.1:{postgres.Port}, durable, shared_buffers 128MB, the default; "
            + "statistics as autovacuum leaves them after the setup, and an ANALYZE before the rounds)";
        Log(database);
    }
    var engine = new DistEngine(new DataFolder(home));
    var setup = await Setup.RunAsync(engine, root, targetCount, jobName, midJobName, smallJobName);
    if (onPostgres)
    {
        // What autovacuum does for tables that grew this much, at once instead of within its next minutes.
        await using var db = engine.Database.CreateContext();
        await db.Database.ExecuteSqlRawAsync("ANALYZE");
    }
    var statements = Raw.SqlOf(engine, jobName);
    var plan = await Raw.PlanAsync(engine, statements);
    Log($"query plan: {string.Join(" | ", plan)}");

    ManagerLauncher.FindExecutable(executables); // fails early, naming the build to make
    var managerWatch = Stopwatch.StartNew();
    (manager, var url) = await ManagerNode.StartAsync(engine, executables, home, Path.Combine(root, "manager.log"));
    Log($"manager {url} (pid {manager.Id}) up in {managerWatch.Elapsed.TotalSeconds:0.0} s");
    var key = (await engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("status-bench", DistRole.Reader))).Key!;
    using var remote = new RemoteServices(new AdminConnection(new Uri(url), key, null));
    var query = new JobStatusQuery(jobName);
    var midQuery = new JobStatusQuery(midJobName);
    var smallQuery = new JobStatusQuery(smallJobName);
    var everyJob = new JobStatusQuery("*");
    var midCount = (targetCount + 4) / 5;
    var smallCount = (targetCount + 99) / 100;
    var expected = new Dictionary<string, int>
    {
        ["raw"] = targetCount, ["engine"] = targetCount, ["engineList"] = targetCount, ["adminApi"] = targetCount,
        ["engineMid"] = midCount, ["engineSmall"] = smallCount, ["engineEveryJob"] = targetCount + midCount + smallCount,
    };
    var series = expected.Keys.ToDictionary(k => k, _ => new List<Run>());
    // Round 0 warms up (JIT, connection pools, the manager's first request) and is not counted.
    for (var r = 0; r <= repeats; r++)
    {
        var round = new Dictionary<string, Run>
        {
            ["raw"] = await Raw.ReadAsync(engine, statements),
            ["engine"] = await Measure.StreamAsync(() => engine.Jobs.StreamStatusAsync(query)),
            ["engineList"] = await Measure.ListAsync(() => engine.Jobs.GetStatusAsync(query)),
            ["adminApi"] = await Measure.StreamAsync(() => remote.Jobs.StreamStatusAsync(query)),
            ["engineMid"] = await Measure.StreamAsync(() => engine.Jobs.StreamStatusAsync(midQuery)),
            ["engineSmall"] = await Measure.StreamAsync(() => engine.Jobs.StreamStatusAsync(smallQuery)),
            ["engineEveryJob"] = await Measure.StreamAsync(() => engine.Jobs.StreamStatusAsync(everyJob)),
        };
        foreach (var (name, run) in round)
        {
            if (run.Rows != expected[name])
            {
                throw new InvalidOperationException($"{name} read {run.Rows} rows, expected {expected[name]}.");
            }
            if (r > 0)
            {
                series[name].Add(run);
            }
        }
        Log($"  round {r}{(r == 0 ? " (warm-up)" : "")}: " + string.Join(", ", round.Select(p => $"{p.Key} first {p.Value.FirstRowMs:0.0} ms, all {p.Value.AllSeconds:0.000} s")));
    }

    var memory = new
    {
        engine = await Measure.HeapAsync(() => engine.Jobs.StreamStatusAsync(query), targetCount, keep: false),
        adminApi = await Measure.HeapAsync(() => remote.Jobs.StreamStatusAsync(query), targetCount, keep: false),
        // What GetStatusAsync does (the same stream collected into a list), probed the same way: the contrast.
        engineList = await Measure.HeapAsync(() => engine.Jobs.StreamStatusAsync(query), targetCount, keep: true),
    };
    Log($"heap after a full collection at 10 % / 90 %: engine {memory.engine.HeapAt10PercentMB:0.0} / {memory.engine.HeapAt90PercentMB:0.0} MB, " +
        $"admin API {memory.adminApi.HeapAt10PercentMB:0.0} / {memory.adminApi.HeapAt90PercentMB:0.0} MB, list {memory.engineList.HeapAt10PercentMB:0.0} / {memory.engineList.HeapAt90PercentMB:0.0} MB");

    var summary = series.ToDictionary(p => p.Key, p => Summary.Of(p.Value));
#if DEBUG
    const string build = "Debug";
#else
    const string build = "Release";
#endif
    var report = new
    {
        benchmark = "status: Get-DistJobStatus over one job, streamed",
        build,
        database,
        machine = new { Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, runtime = Environment.Version.ToString(), loadAverage = LoadAverage() },
        targets = targetCount,
        repeats,
        goals = new { firstRowMs = 100, allSeconds = 2.0, memory = "flat: no list of all rows in memory" },
        setup,
        queryPlan = plan,
        sql = statements.Select(statement => statement.Sql).ToList(),
        medians = summary,
        runs = series,
        memory,
        managerLog = Path.Combine(root, "manager.log"),
    };
    Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"status: {(onPostgres ? "PostgreSQL, " : "")}{targetCount} targets first row {summary["engine"].FirstRowMs:0.0} ms, all {summary["engine"].AllSeconds:0.00} s (engine), " +
        $"first {summary["adminApi"].FirstRowMs:0.0} ms, all {summary["adminApi"].AllSeconds:0.00} s (admin API); raw reader {summary["raw"].AllSeconds:0.00} s (first {summary["raw"].FirstRowMs:0.0} ms); " +
        $"list {summary["engineList"].AllSeconds:0.00} s; mid job ({midCount}) first {summary["engineMid"].FirstRowMs:0.0} ms, all {summary["engineMid"].AllSeconds:0.00} s; " +
        $"small job ({smallCount}) first {summary["engineSmall"].FirstRowMs:0.0} ms, all {summary["engineSmall"].AllSeconds:0.00} s; " +
        $"-Job * first {summary["engineEveryJob"].FirstRowMs:0.0} ms, all {summary["engineEveryJob"].AllSeconds:0.00} s; heap flat: {memory.engine.HeapAt10PercentMB:0.0} MB at 10% vs {memory.engine.HeapAt90PercentMB:0.0} MB at 90% " +
        $"(admin API client {memory.adminApi.HeapAt10PercentMB:0.0} vs {memory.adminApi.HeapAt90PercentMB:0.0} MB; list {memory.engineList.HeapAt10PercentMB:0.0} vs {memory.engineList.HeapAt90PercentMB:0.0} MB)"));
    return 0;
}
finally
{
    if (manager is { HasExited: false })
    {
        manager.Kill(entireProcessTree: true);
        await manager.WaitForExitAsync();
    }
    manager?.Dispose();
    SqliteConnection.ClearAllPools();
    NpgsqlConnection.ClearAllPools();
    postgres?.Dispose();
    if (Environment.GetEnvironmentVariable("JP1DIST_BENCH_KEEP") != "1")
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

int Arg(string name, int fallback) => ArgText(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

string? ArgText(string name)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

static void Log(string line) => Console.Error.WriteLine(line);

static string RepoRoot()
{
    for (var folder = AppContext.BaseDirectory; folder is not null; folder = Path.GetDirectoryName(folder))
    {
        if (File.Exists(Path.Combine(folder, "JP1Dist.sln")))
        {
            return folder;
        }
    }
    return Directory.GetCurrentDirectory();
}

static string? LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null;

/// <summary>One read of all the rows: milliseconds to the first, seconds to the last, bytes allocated by this process meanwhile.</summary>
sealed record Run(int Rows, double FirstRowMs, double AllSeconds, double AllocatedMB, double PeakHeapMB);

sealed record RunSummary(double FirstRowMs, double AllSeconds, double AllocatedMB, double PeakHeapMB);

static class Summary
{
    public static RunSummary Of(List<Run> runs) => new(Median(runs.Select(r => r.FirstRowMs)), Median(runs.Select(r => r.AllSeconds)),
        Median(runs.Select(r => r.AllocatedMB)), Median(runs.Select(r => r.PeakHeapMB)));

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

/// <summary>The managed heap after a full collection, at 10 % and at 90 % of the rows, and before the first (the baseline).</summary>
sealed record HeapProbe(double HeapBeforeMB, double HeapAt10PercentMB, double HeapAt90PercentMB, double GrowthMB, double BytesPerRowBetween, bool Kept);

static class Measure
{
    private const double MB = 1024.0 * 1024.0;

    public static async Task<Run> StreamAsync(Func<IAsyncEnumerable<DistJobStatus>> source)
    {
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        long peak = 0;
        var first = 0.0;
        var rows = 0;
        var watch = Stopwatch.StartNew();
        await foreach (var row in source())
        {
            if (rows++ == 0)
            {
                first = watch.Elapsed.TotalMilliseconds;
            }
            if (rows % 1000 == 0)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
            }
            GC.KeepAlive(row);
        }
        var all = watch.Elapsed.TotalSeconds;
        return new Run(rows, first, all, (GC.GetTotalAllocatedBytes(precise: true) - allocated) / MB, peak / MB);
    }

    /// <summary>GetStatusAsync: the first row is there when the whole list is.</summary>
    public static async Task<Run> ListAsync(Func<Task<IReadOnlyList<DistJobStatus>>> source)
    {
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var watch = Stopwatch.StartNew();
        var list = await source();
        var all = watch.Elapsed.TotalSeconds;
        var heap = GC.GetTotalMemory(forceFullCollection: false);
        return new Run(list.Count, all * 1000, all, (GC.GetTotalAllocatedBytes(precise: true) - allocated) / MB, heap / MB);
    }

    /// <summary>A separate pass (full collections cost time): the heap at 10 % and 90 % of the rows; with keep, every row is held as a list would.</summary>
    public static async Task<HeapProbe> HeapAsync(Func<IAsyncEnumerable<DistJobStatus>> source, int expected, bool keep)
    {
        var before = Collected();
        long at10 = 0, at90 = 0;
        var kept = new List<DistJobStatus>();
        var rows = 0;
        await foreach (var row in source())
        {
            rows++;
            if (keep)
            {
                kept.Add(row);
            }
            if (rows == expected / 10)
            {
                at10 = Collected();
            }
            else if (rows == expected * 9 / 10)
            {
                at90 = Collected();
            }
        }
        GC.KeepAlive(kept);
        return new HeapProbe(before / MB, at10 / MB, at90 / MB, (at90 - at10) / MB, (double)(at90 - at10) / (expected * 8 / 10), keep);
    }

    private static long Collected()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

static class Setup
{
    /// <summary>
    /// N hosts inserted in bulk through the engine's DbContext (as bench/Destinations does: registering 100,000 hosts
    /// one by one would measure registration), then a package, one job naming every host and its execution through
    /// the engine, so that the targets are the engine's own.
    /// </summary>
    public static async Task<object> RunAsync(DistEngine engine, string root, int count, string jobName, string midJobName, string smallJobName)
    {
        var watch = Stopwatch.StartNew();
        var names = Enumerable.Range(0, count).Select(i => $"pc-{i:000000}").ToList();
        var now = engine.Now;
        // Shuffled, so that neither the rows' order on disk nor their ids follow the names the status is sorted by.
        var random = new Random(17);
        var order = names.OrderBy(_ => random.Next()).ToList();
        for (var start = 0; start < count; start += 10_000)
        {
            await using var db = engine.Database.CreateContext();
            db.ChangeTracker.AutoDetectChangesEnabled = false;
            db.Hosts.AddRange(order.Skip(start).Take(10_000).Select((n, i) => new HostRow
            {
                Id = Guid.NewGuid(), Name = n, NameKey = Names.Key(n), CredentialHash = "-", OS = "Linux", OSVersion = "6.1",
                Architecture = "X64", AddressesJson = $"[\"10.{(start + i) / 250 % 250}.{(start + i) % 250}.1\"]", RegisteredAt = now, LastSeen = now,
            }));
            await db.SaveChangesAsync();
        }
        var hostsSeconds = watch.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"setup: {count} hosts inserted in {hostsSeconds:0.0} s");
        Directory.CreateDirectory(Path.Combine(root, "pkg"));
        await File.WriteAllTextAsync(Path.Combine(root, "pkg", "setup"), "exit 0");
        await engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(root, "pkg"), "setup"));
        watch.Restart();
        await engine.Jobs.CreateAsync(new NewJobRequest(jobName, "App", null, names));
        var createSeconds = watch.Elapsed.TotalSeconds;
        watch.Restart();
        var executed = await engine.Jobs.StartAsync(jobName);
        var executeSeconds = watch.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"setup: job created in {createSeconds:0.0} s, executed in {executeSeconds:0.0} s ({executed.TargetCount} targets)");
        // The mid-sized job (every 5th host in name order: spread over the whole name range) and the small one.
        watch.Restart();
        await engine.Jobs.CreateAsync(new NewJobRequest(midJobName, "App", null, names.Where((_, i) => i % 5 == 0).ToList()));
        var createMidSeconds = watch.Elapsed.TotalSeconds;
        watch.Restart();
        await engine.Jobs.StartAsync(midJobName);
        var executeMidSeconds = watch.Elapsed.TotalSeconds;
        await engine.Jobs.CreateAsync(new NewJobRequest(smallJobName, "App", null, names.Where((_, i) => i % 100 == 0).ToList()));
        await engine.Jobs.StartAsync(smallJobName);
        Console.Error.WriteLine($"setup: mid-sized job created in {createMidSeconds:0.0} s, executed in {executeMidSeconds:0.0} s");
        return new
        {
            how = "hosts bulk-inserted through the engine's DbContext (HostRow entities, 10,000 per SaveChanges, in shuffled name order); "
                + "package, job (naming every host) and its execution through the engine (Packages.CreateAsync, Jobs.CreateAsync, Jobs.StartAsync)",
            hostsSeconds,
            createJobSeconds = createSeconds,
            executeSeconds,
            executed.TargetCount,
            createMidJobSeconds = createMidSeconds,
            executeMidJobSeconds = executeMidSeconds,
        };
    }
}

/// <summary>
/// The floor: the SQL EF Core generates for the engine's status query of one large job, read with the provider's bare data
/// reader as the engine reads it: on SQLite in one query, on PostgreSQL its first rows apart (JobService.HostOrderFirst),
/// then the rest after the last host of those.
/// </summary>
static class Raw
{
    /// <summary>The rows the engine asks for apart on PostgreSQL (JobService.HostOrderFirst).</summary>
    public const int First = 500;

    /// <summary>One statement as EF Core writes it (its ToQueryString: the parameters, then the SELECT).</summary>
    public sealed record Statement(string Sql, List<(string Name, object Value)> Parameters);

    /// <summary>
    /// The engine's queries for one job: on SQLite the whole job; on PostgreSQL its first rows, and the rest after the last
    /// host of those (the parameter named after the last host read starts empty, which every host name key follows).
    /// </summary>
    public static List<Statement> SqlOf(DistEngine engine, string jobName)
    {
        using var db = engine.Database.CreateContext();
        var key = Names.Key(jobName);
        var id = db.Jobs.Single(j => j.NameKey == key).Id;
        var after = "";
        // As JobService.StreamStatusAsync reads a job that reaches a large share of the hosts: hosts in name order, the
        // target by (JobId, HostId), the columns a status row shows.
        var rows = (from j in db.Jobs.AsNoTracking()
                    from h in db.Hosts
                    from t in db.Targets
                    where t.JobId == j.Id && t.HostId == h.Id
                    join p in db.Packages on j.PackageId equals p.Id
                    from s in db.Hosts.Where(s => s.Id == t.ServedByHostId).DefaultIfEmpty()
                    select new
                    {
                        JobName = j.Name, JobKey = j.NameKey, HostName = h.Name, HostKey = h.NameKey, t.Status, t.ExitCode, t.Message, t.PowerNote, t.Attempt,
                        t.QueuedAt, t.StartedAt, t.CompletedAt, t.UpdatedAt, t.CreatedAt, t.BytesTransferred, t.OutputTail, t.JobId, t.HostId,
                        t.SegmentsTransferred, p.SegmentCount, p.TotalBytes, t.InstallAt, t.StoredUntil, t.ServedByHostId, ServedBy = s == null ? null : s.Name,
                    }).Where(r => r.JobKey == key).Where(r => r.JobId == id);
        return engine.Database.IsPostgreSql
            ? [Parse(rows.OrderBy(r => r.JobKey).ThenBy(r => r.HostKey).Take(First).ToQueryString()),
               Parse(rows.Where(r => string.Compare(r.HostKey, after) > 0).OrderBy(r => r.JobKey).ThenBy(r => r.HostKey).ToQueryString())]
            : [Parse(rows.OrderBy(r => r.JobKey).ThenBy(r => r.HostKey).ToQueryString())];
    }

    private static Statement Parse(string text)
    {
        var parameters = new List<(string, object)>();
        var lines = text.Split('\n');
        var at = 0;
        for (; at < lines.Length; at++)
        {
            string name, value;
            if (lines[at].StartsWith(".param set ", StringComparison.Ordinal))
            {
                // SQLite's: .param set @name 'value'
                var rest = lines[at][".param set ".Length..].Trim();
                var space = rest.IndexOf(' ', StringComparison.Ordinal);
                (name, value) = (rest[..space], rest[(space + 1)..]);
            }
            else if (lines[at].StartsWith("-- @", StringComparison.Ordinal))
            {
                // Npgsql's: -- @name='value'
                var rest = lines[at]["-- ".Length..].Trim();
                var equals = rest.IndexOf('=', StringComparison.Ordinal);
                (name, value) = (rest[..equals], rest[(equals + 1)..]);
            }
            else if (lines[at].Length > 0)
            {
                break;
            }
            else
            {
                continue;
            }
            // The job's id and the number of rows as numbers (Npgsql quotes them too), the job's key and the last host's as text.
            var unquoted = value.Trim('\'');
            parameters.Add((name, int.TryParse(unquoted, CultureInfo.InvariantCulture, out var number) ? number : unquoted));
        }
        return new Statement(string.Join('\n', lines[at..]).Trim(), parameters);
    }

    /// <summary>The plan of each statement, in the order they run.</summary>
    public static async Task<List<string>> PlanAsync(DistEngine engine, List<Statement> statements)
    {
        await using var db = engine.Database.CreateContext();
        var sqlite = db.Database.IsSqlite();
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        var plan = new List<string>();
        foreach (var statement in statements)
        {
            if (statements.Count > 1)
            {
                plan.Add(statement == statements[0] ? "first rows:" : "the rest:");
            }
            await using var command = Command(connection, (sqlite ? "EXPLAIN QUERY PLAN " : "EXPLAIN ") + statement.Sql, statement.Parameters);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(sqlite ? 3 : 0).Trim());
            }
        }
        return plan;
    }

    public static async Task<Run> ReadAsync(DistEngine engine, List<Statement> statements)
    {
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        await using var db = engine.Database.CreateContext();
        var watch = Stopwatch.StartNew();
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        var rows = 0;
        var firstMs = 0.0;
        object? after = null;
        await using (var command = Command(connection, statements[0].Sql, statements[0].Parameters))
        {
            after = await ReadAllAsync(command);
        }
        if (statements.Count > 1 && rows == First)
        {
            await using var command = Command(connection, statements[1].Sql, statements[1].Parameters);
            command.Parameters.Cast<DbParameter>().Single(p => p.Value is "").Value = after;
            await ReadAllAsync(command);
        }
        var all = watch.Elapsed.TotalSeconds;
        return new Run(rows, firstMs, all, (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (1024.0 * 1024.0), 0);

        // Every column of every row; the last row's host name key.
        async Task<object?> ReadAllAsync(DbCommand command)
        {
            await using var reader = await command.ExecuteReaderAsync();
            var values = new object[reader.FieldCount];
            var hostKey = reader.GetOrdinal("HostKey");
            object? last = null;
            while (await reader.ReadAsync())
            {
                reader.GetValues(values);
                last = values[hostKey];
                if (rows++ == 0)
                {
                    firstMs = watch.Elapsed.TotalMilliseconds;
                }
            }
            return last;
        }
    }

    private static DbCommand Command(DbConnection connection, string sql, List<(string Name, object Value)> parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }
}

/// <summary>A `jp1dist manager` on 127.0.0.1 (plain http: loopback), its console to a file, ending with this process.</summary>
static class ManagerNode
{
    public static async Task<(Process Process, string Url)> StartAsync(DistEngine engine, string executables, string home, string logFile)
    {
        var (fileName, dll) = ManagerLauncher.FindExecutable(executables);
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // sh -c 'exec "$@" >>"$0" 2>&1' LOG jp1dist ARGS...: the shell replaces itself with jp1dist; nothing reaches this stdout.
        foreach (var argument in new[] { "-c", "exec \"$@\" >>\"$0\" 2>&1", logFile, fileName })
        {
            start.ArgumentList.Add(argument);
        }
        if (dll is not null)
        {
            start.ArgumentList.Add(dll);
        }
        foreach (var argument in new[] { "manager", "--listen", "http://127.0.0.1:0", "--home", home })
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var variable in new[] { "JP1DIST_HOME", "JP1DIST_TOKEN", "JP1DIST_SHUTDOWN_SECRET" })
        {
            start.Environment.Remove(variable);
        }
        start.Environment["JP1DIST_PARENT_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var process = Process.Start(start)!;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromMinutes(3))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The manager ended with exit code {process.ExitCode}; see {logFile}.");
            }
            var url = (await engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == process.Id && m.IsAlive)?.Url;
            if (url is not null)
            {
                return (process, url);
            }
            await Task.Delay(200);
        }
        process.Kill(entireProcessTree: true);
        throw new TimeoutException($"The manager did not announce itself within 3 minutes; see {logFile}.");
    }
}
