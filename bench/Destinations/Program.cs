// Destinations benchmark, engine in-process on SQLite files (what the manager and the cmdlets run):
//  1. expanding host groups into 10,000 hosts, and executing a job for them, against a job that names the
//     same 10,000 hosts directly (the reference, same run);
//     then an ID group policy that admits half of them, into a group without jobs and into one with an executed job;
//  2. registering 1,000 hosts against 50 ID group policies, against the same registrations with no policy.
// Progress goes to stderr; stdout carries the JSON document and one summary line.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Groups;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;

var hostCount = Arg("--hosts", 10_000);
var registrations = Arg("--registrations", 1_000);
var policyCount = Arg("--policies", 50);
var repeats = Arg("--repeats", 5);

var expansion = await Expansion.RunAsync(hostCount, repeats);
var (withPolicies, withoutPolicies) = await Registration.RunAsync(registrations, policyCount);

#if DEBUG
const string build = "Debug";
#else
const string build = "Release";
#endif
var report = new
{
    benchmark = "destinations: group expansion and registration against policies",
    build,
    machine = new { Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, runtime = Environment.Version.ToString() },
    expansion,
    registration = new { withPolicies, withoutPolicies, policyCostMs = withPolicies.MedianMs - withoutPolicies.MedianMs },
};
Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"destinations: expand {hostCount} hosts {expansion.ExpandMedianSeconds:0.000} s; execute group job {expansion.ExecuteGroupMedianSeconds:0.00} s (hosts named directly {expansion.ExecuteDirectMedianSeconds:0.00} s, x{expansion.ExecuteGroupMedianSeconds / expansion.ExecuteDirectMedianSeconds:0.00}); " +
    $"policy change over {hostCount} hosts {expansion.SetPolicySeconds:0.00} s ({expansion.JoinedTargets} joining an executed job {expansion.SetPolicyWithJobSeconds:0.00} s); registration with {policyCount} policies {withPolicies.MedianMs:0.00} ms median, CPU {withPolicies.CpuMeanMs:0.00} ms mean " +
    $"(no policy {withoutPolicies.MedianMs:0.00} ms, CPU {withoutPolicies.CpuMeanMs:0.00} ms; evaluation alone {withPolicies.EvaluateMedianMs:0.00} ms)"));
return 0;

int Arg(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

/// <summary>A scratch data folder with an engine on it.</summary>
sealed class Scratch : IDisposable
{
    public Scratch()
    {
        Root = Path.Combine(Path.GetTempPath(), "jp1dist-bench-dest-" + Guid.NewGuid().ToString("N")[..8]);
        Engine = new DistEngine(new DataFolder(Path.Combine(Root, "home")));
        Directory.CreateDirectory(Path.Combine(Root, "pkg"));
        File.WriteAllText(Path.Combine(Root, "pkg", "setup"), "exit 0");
    }

    public string Root { get; }
    public DistEngine Engine { get; }

    public Task<DistPackage> PackageAsync() => Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(Root, "pkg"), "setup"));

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

sealed record ExpansionResult(int Hosts, double ExpandMedianSeconds, double ExecuteGroupMedianSeconds, double ExecuteDirectMedianSeconds,
    double SetPolicySeconds, int TargetsPerExecution, double[] ExpandSeconds, double[] ExecuteGroupSeconds, double[] ExecuteDirectSeconds,
    double SetPolicyWithJobSeconds, int JoinedTargets);

static class Expansion
{
    public static async Task<ExpansionResult> RunAsync(int hostCount, int repeats)
    {
        using var scratch = new Scratch();
        var engine = scratch.Engine;
        Console.Error.WriteLine($"expansion: {hostCount} hosts in 10 departments under 'All', plus an overlapping group");
        var names = Enumerable.Range(0, hostCount).Select(i => $"pc-{i:00000}").ToList();
        await using (var db = engine.Database.CreateContext())
        {
            var now = engine.Now;
            db.Hosts.AddRange(names.Select((n, i) => new HostRow
            {
                Id = Guid.NewGuid(), Name = n, NameKey = Names.Key(n), CredentialHash = "-", OS = "Linux", OSVersion = "6.1",
                Architecture = "X64", AddressesJson = $"[\"10.{i / 250 % 250}.{i % 250}.1\"]", RegisteredAt = now, LastSeen = now,
            }));
            await db.SaveChangesAsync();
        }
        await engine.HostGroups.CreateAsync("All", null);
        await engine.HostGroups.CreateAsync("Overlap", null);
        var departments = new List<string>();
        for (var d = 0; d < 10; d++)
        {
            var dept = $"Dept-{d}";
            departments.Add(dept);
            await engine.HostGroups.CreateAsync(dept, null);
            await engine.HostGroups.AddMembersAsync(dept, names.Where((_, i) => i % 10 == d).ToList(), null);
        }
        await engine.HostGroups.AddMembersAsync("All", null, departments);
        await engine.HostGroups.AddMembersAsync("Overlap", names.Take(hostCount / 5).ToList(), null);
        await scratch.PackageAsync();

        int[] groupIds;
        await using (var db = engine.Database.CreateContext())
        {
            groupIds = db.HostGroups.Where(g => g.Name == "All" || g.Name == "Overlap").Select(g => g.Id).ToArray();
        }
        var expand = new List<double>();
        for (var r = 0; r < repeats; r++)
        {
            var watch = Stopwatch.StartNew();
            await using var db = engine.Database.CreateContext();
            var reached = await HostGroupService.HostIdsOfAsync(db, groupIds, default);
            expand.Add(watch.Elapsed.TotalSeconds);
            if (reached.Count != hostCount)
            {
                throw new InvalidOperationException($"Expansion reached {reached.Count} hosts, expected {hostCount}.");
            }
        }

        var group = new List<double>();
        var direct = new List<double>();
        var targets = 0;
        for (var r = 0; r < repeats; r++)
        {
            await engine.Jobs.CreateAsync(new NewJobRequest($"group-{r}", "App", null, ["All", "Overlap"], DestinationType: DestinationType.HostGroup));
            await engine.Jobs.CreateAsync(new NewJobRequest($"direct-{r}", "App", null, names));
            var watch = Stopwatch.StartNew();
            targets = (await engine.Jobs.StartAsync($"group-{r}")).TargetCount;
            group.Add(watch.Elapsed.TotalSeconds);
            watch.Restart();
            await engine.Jobs.StartAsync($"direct-{r}");
            direct.Add(watch.Elapsed.TotalSeconds);
            Console.Error.WriteLine($"  round {r + 1}: expand {expand[r]:0.000} s, group job {group[r]:0.00} s, direct job {direct[r]:0.00} s");
        }

        await engine.IdGroups.CreateAsync("Evens", null);
        var policyWatch = Stopwatch.StartNew();
        await engine.IdGroups.SetPolicyAsync("Evens", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["pc-*0", "pc-*2", "pc-*4", "pc-*6", "pc-*8"], ["IPAddress"] = ["10.0.0.0/8"] }]);
        var setPolicy = policyWatch.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"  policy over {hostCount} hosts: {setPolicy:0.00} s, {(await engine.IdGroups.ListAsync("Evens"))[0].Members.Count} members");

        // The same change for a group with an executed job: each joiner becomes a target, its settings signed for its ticket.
        await engine.IdGroups.CreateAsync("Odds", null);
        await engine.Jobs.CreateAsync(new NewJobRequest("odds-job", "App", null, ["Odds"], DestinationType: DestinationType.IdGroup));
        await engine.Jobs.StartAsync("odds-job");
        policyWatch.Restart();
        await engine.IdGroups.SetPolicyAsync("Odds", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["pc-*1", "pc-*3", "pc-*5", "pc-*7", "pc-*9"], ["IPAddress"] = ["10.0.0.0/8"] }]);
        var setPolicyWithJob = policyWatch.Elapsed.TotalSeconds;
        var joinedTargets = (await engine.Jobs.ListAsync("odds-job"))[0].Targets.Total;
        Console.Error.WriteLine($"  policy over {hostCount} hosts into a group with an executed job: {setPolicyWithJob:0.00} s, {joinedTargets} targets");
        return new ExpansionResult(hostCount, Median(expand), Median(group), Median(direct), setPolicy, targets, [.. expand], [.. group], [.. direct],
            setPolicyWithJob, joinedTargets);
    }

    internal static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}

sealed record RegistrationResult(int Registrations, int Policies, double MedianMs, double P95Ms, double MeanMs, double EvaluateMedianMs, int Memberships,
    double CpuMedianMs, double CpuMeanMs, double AllocatedKBMean);

/// <summary>
/// CPU time this process has used (user + system, all threads), in milliseconds, from getrusage: microsecond
/// resolution, unlike Process.TotalProcessorTime (clock ticks). Wall time on a shared machine includes waiting for a
/// core; CPU time is the manager's own cost of a registration.
/// </summary>
static class ProcessCpu
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct RUsage
    {
        public TimeVal UserTime;
        public TimeVal SystemTime;
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.ByValArray, SizeConst = 14)]
        public long[] Rest;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out RUsage usage);

    /// <summary>Milliseconds of CPU so far; falls back to TotalProcessorTime where getrusage is not available (Windows).</summary>
    public static double Milliseconds()
    {
        if (!OperatingSystem.IsWindows() && getrusage(0, out var usage) == 0)
        {
            return (usage.UserTime.Seconds + usage.SystemTime.Seconds) * 1000.0 + (usage.UserTime.Microseconds + usage.SystemTime.Microseconds) / 1000.0;
        }
        return Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
    }
}

static class Registration
{
    /// <summary>
    /// Registers the same hosts into two data folders, one with the policies and one without, alternating host by
    /// host, so that load from other processes on a shared machine falls on both series alike.
    /// </summary>
    public static async Task<(RegistrationResult With, RegistrationResult Without)> RunAsync(int count, int policies)
    {
        using var withScratch = new Scratch();
        using var withoutScratch = new Scratch();
        Console.Error.WriteLine($"registration: {count} hosts against {policies} policies, alternating with a folder without policies");
        var tokens = new[] { await PrepareAsync(withScratch.Engine, policies), await PrepareAsync(withoutScratch.Engine, 0) };
        var engines = new[] { withScratch.Engine, withoutScratch.Engine };
        var software = Enumerable.Range(0, 20).Select(i => new SoftwareFact($"pkg{i}", $"1.{i % 4}", "dpkg")).ToList();
        var times = new[] { new List<double>(), new List<double>() };
        var cpu = new[] { new List<double>(), new List<double>() };
        var allocated = new[] { new List<double>(), new List<double>() };
        var ids = new[] { new List<Guid>(), new List<Guid>() };
        // A few registrations first, so that JIT and connection pooling are not measured.
        for (var i = 0; i < count + 20; i++)
        {
            for (var e = 0; e < 2; e++)
            {
                var request = new RegisterRequest(tokens[e], $"pc-{i:00000}", "Linux", $"6.{i % 4}", "X64", [$"10.{i % 60}.{i / 250 % 250}.{i % 250}"], "00-11-22-33-44-55", "1.0",
                    new HostInventory(4, 8192, [new VolumeFact("/", 100_000, 50_000)], ["00-11-22-33-44-55"], software.Take(5 + (i % 15)).ToList()));
                var cpuBefore = ProcessCpu.Milliseconds();
                var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                var watch = Stopwatch.StartNew();
                var response = await engines[e].Hosts.RegisterAsync(request);
                if (i >= 20)
                {
                    times[e].Add(watch.Elapsed.TotalMilliseconds);
                    cpu[e].Add(ProcessCpu.Milliseconds() - cpuBefore);
                    allocated[e].Add((GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / 1024.0);
                    ids[e].Add(response.HostId);
                }
            }
        }
        var results = new RegistrationResult[2];
        for (var e = 0; e < 2; e++)
        {
            var evaluate = new List<double>();
            foreach (var id in ids[e].Take(200))
            {
                await using var db = engines[e].Database.CreateContext();
                await using var transaction = await db.Database.BeginTransactionAsync();
                var watch = Stopwatch.StartNew();
                await engines[e].Policies.ApplyAsync(db, [id], null, default);
                evaluate.Add(watch.Elapsed.TotalMilliseconds);
                await transaction.RollbackAsync();
            }
            int memberships;
            await using (var db = engines[e].Database.CreateContext())
            {
                memberships = db.IdGroupMembers.Count();
            }
            var sorted = times[e].Order().ToList();
            results[e] = new RegistrationResult(count, e == 0 ? policies : 0, Expansion.Median(times[e]), sorted[(int)(sorted.Count * 0.95)], times[e].Average(),
                Expansion.Median(evaluate), memberships, Expansion.Median(cpu[e]), cpu[e].Average(), allocated[e].Average());
            Console.Error.WriteLine($"  {results[e].Policies} policies: median {results[e].MedianMs:0.00} ms, p95 {results[e].P95Ms:0.00} ms, CPU median {results[e].CpuMedianMs:0.00} ms (mean {results[e].CpuMeanMs:0.00}), {results[e].AllocatedKBMean:0} KB allocated, evaluation alone {results[e].EvaluateMedianMs:0.00} ms, {memberships} memberships");
        }
        return (results[0], results[1]);
    }

    private static async Task<string> PrepareAsync(DistEngine engine, int policies)
    {
        for (var d = 0; d < 10; d++)
        {
            await engine.HostGroups.CreateAsync($"Dept-{d}", null);
        }
        for (var p = 0; p < policies; p++)
        {
            await engine.IdGroups.CreateAsync($"ID-{p:00}", null);
            Dictionary<string, IReadOnlyList<string>> rule = (p % 5) switch
            {
                0 => new() { ["HostName"] = [$"pc-*{p % 10}"] },
                1 => new() { ["IPAddress"] = [$"10.{p}.0.0/16"], ["OS"] = ["Linux"] },
                2 => new() { ["OS"] = ["Linux*"], ["OSVersion"] = [$">=6.{p % 3}"], ["MinMemoryMB"] = ["4096"] },
                3 => new() { ["SoftwareInstalled"] = [$"pkg{p % 20}>=1.{p % 3}"], ["SoftwareAbsent"] = ["oldav"] },
                _ => new() { ["HostGroup"] = [$"Dept-{p % 10}"], ["Architecture"] = ["X64"] },
            };
            await engine.IdGroups.SetPolicyAsync($"ID-{p:00}", [rule, new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = [$"special-{p}"] }]);
        }
        return (await engine.Hosts.NewEnrollmentTokenAsync("bench")).Token!;
    }
}
