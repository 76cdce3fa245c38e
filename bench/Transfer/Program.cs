// One package of --size-mb (1024) to one agent over loopback, against nginx serving the same bytes to curl in the
// same run. Progress goes to stderr; stdout carries the JSON document and one summary line.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Bench.Transfer;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

var sizeMB = Option("--size-mb", 1024);
var runs = Option("--runs", 3);
var segmentMB = Option("--segment-mb", 1);
var capKBps = Option("--cap-kbps", 100 * 1024);
var showAgentLog = args.Contains("--agent-log");
var log = Console.Error;

var nginxBinary = Nginx.Locate(log, out var missing);
if (nginxBinary is null)
{
    Console.WriteLine(JsonSerializer.Serialize(new { benchmark = "transfer", error = missing }));
    Console.WriteLine("transfer: NOT RUN - " + missing);
    return 3;
}

var scratch = Path.Combine(Path.GetTempPath(), "jp1dist-bench-transfer-" + Guid.NewGuid().ToString("N")[..8]);
Directory.CreateDirectory(scratch);
var home = Path.Combine(scratch, "home");
var bytes = (long)sizeMB * 1024 * 1024;
try
{
    log.WriteLine($"Writing a {sizeMB} MB package file ...");
    var source = Path.Combine(scratch, "pkg");
    Directory.CreateDirectory(source);
    await WritePayloadAsync(Path.Combine(source, "payload.bin"), bytes);

    var executables = OptionText("--jp1dist", Path.Combine(RepoRoot(), "out", "jp1dist"));
    log.WriteLine($"Starting 'jp1dist manager' from {executables} ...");
    using var manager = await ManagerLauncher.StartAsync(executables, "http://127.0.0.1:0", home, TimeSpan.FromSeconds(60), default);
    Process? agentProcess = null;
    try
    {
        var url = manager.Url;
        var engine = DistEngine.ForFolder(home);
        log.WriteLine("Registering the package (content store, segment hashes, signed manifest) ...");
        var package = await engine.Packages.CreateAsync(new NewPackageRequest("Big", "1.0", source, OperatingSystem.IsWindows() ? "cmd.exe" : "true",
            OperatingSystem.IsWindows() ? ["/c", "exit 0"] : [], SegmentSize: (long)segmentMB * 1024 * 1024));
        var token = await engine.Hosts.NewEnrollmentTokenAsync("bench");
        var agentState = Path.Combine(scratch, "agent");
        agentProcess = StartAgent(executables, url, token.Token!, agentState, showAgentLog ? log : null);
        var registered = Stopwatch.StartNew();
        // Registered once the manager lists the host and the agent has stored its credential (the two are not simultaneous).
        while ((await engine.Hosts.ListAsync()).Count == 0 || new AgentStateStore(agentState).LoadIdentity() is null)
        {
            if (registered.Elapsed > TimeSpan.FromSeconds(60) || agentProcess.HasExited)
            {
                throw new InvalidOperationException("The agent did not register within 60 s.");
            }
            await Task.Delay(100);
        }

        var content = engine.Content.Root;
        var sha = await PayloadHashAsync(engine);
        var relative = Path.GetRelativePath(content, engine.Content.PathOf(sha)).Replace('\\', '/');
        using var nginx = await Nginx.StartAsync(nginxBinary, content, scratch);
        log.WriteLine($"{nginx.Version} on 127.0.0.1:{nginx.Port}; jp1dist manager on {url}");

        var identity = new AgentStateStore(agentState).LoadIdentity()!;
        var bearer = $"{identity.HostId}.{identity.Credential}";
        var managerCurlSeconds = new List<double>();
        var curlSeconds = new List<double>();
        var jobSeconds = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            Settle();
            curlSeconds.Add(Curl($"http://127.0.0.1:{nginx.Port}/{relative}", Path.Combine(scratch, "curl.out"), bytes));
            log.WriteLine($"run {run}: curl from nginx {curlSeconds[^1]:0.000} s");
            Settle();
            managerCurlSeconds.Add(Curl($"{url}/api/v1/content/{sha}", Path.Combine(scratch, "curl.out"), bytes, bearer));
            log.WriteLine($"run {run}: curl from the jp1dist manager {managerCurlSeconds[^1]:0.000} s");
            Settle();
            var job = await JobAsync(engine, $"run {run}", 0);
            jobSeconds.Add(job);
            log.WriteLine($"run {run}: jp1dist agent, first report to result {job:0.000} s");
        }
        log.WriteLine($"Capped run at {capKBps} KB/s ...");
        var cappedJob = await JobAsync(engine, "capped", capKBps);
        var cappedRate = bytes / cappedJob / 1024;

        double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        double MBps(double seconds) => bytes / seconds / (1024 * 1024);
        var result = new
        {
            benchmark = "transfer: one package to one agent over loopback, against nginx to curl",
            sizeBytes = bytes,
            segmentSize = package.SegmentSize,
            runs,
            nginx = nginx.Version,
            mode = "'jp1dist manager' and 'jp1dist agent' as separate processes (as nginx and curl are); both clients write the file to the same disk; the jp1dist figure is the target's first report (Transferring) to its result (Succeeded), both stamped by the manager, so it includes every segment's hash check, the writes, the progress reports and the install command 'true'",
            machine = new { Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, framework = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription },
            curlSeconds,
            managerCurlSeconds,
            jobSeconds,
            nginxMBps = MBps(Median(curlSeconds)),
            managerToCurlMBps = MBps(Median(managerCurlSeconds)),
            jobMBps = MBps(Median(jobSeconds)),
            ratioJob = Median(curlSeconds) / Median(jobSeconds),
            cap = new { limitKBps = capKBps, seconds = cappedJob, achievedKBps = cappedRate, deviation = cappedRate / capKBps - 1 },
        };
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"transfer: {sizeMB} MB, nginx to curl {result.nginxMBps:0} MB/s, jp1dist manager to curl {result.managerToCurlMBps:0} MB/s, jp1dist agent {result.jobMBps:0} MB/s (x{result.ratioJob:0.00} of nginx); cap {capKBps} KB/s held at {cappedRate:0} KB/s ({result.cap.deviation * 100:+0.0;-0.0;0.0}%)"));
        return 0;
    }
    finally
    {
        if (agentProcess is { HasExited: false })
        {
            agentProcess.Kill(entireProcessTree: true);
            await agentProcess.WaitForExitAsync();
        }
        agentProcess?.Dispose();
        await manager.StopAsync(TimeSpan.FromSeconds(15));
    }
}
finally
{
    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    try
    {
        Directory.Delete(scratch, recursive: true);
    }
    catch (IOException e)
    {
        log.WriteLine($"Could not remove {scratch}: {e.Message}");
    }
}

string OptionText(string name, string fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
}

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

// The payload's hash, from the signed manifest: nginx serves the content store's file of that name.
static async Task<string> PayloadHashAsync(DistEngine engine)
{
    await using var db = engine.Database.CreateContext();
    var manifest = Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.AsNoTracking(db.Packages).Single().ManifestJson;
    return JsonSerializer.Deserialize<JP1Dist.Protocol.PackageManifest>(manifest, JP1Dist.Protocol.ProtocolJson.Options)!.Files.Single().Sha256;
}

static async Task WritePayloadAsync(string path, long size)
{
    var random = new Random(42);
    var buffer = new byte[4 * 1024 * 1024];
    await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
    for (long written = 0; written < size; written += buffer.Length)
    {
        random.NextBytes(buffer);
        await file.WriteAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, size - written)));
    }
}

static double Curl(string url, string output, long expected, string? bearer = null)
{
    var start = new ProcessStartInfo("curl") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var argument in new[] { "-sS", "-o", output, "-w", "%{time_total} %{size_download}", url })
    {
        start.ArgumentList.Add(argument);
    }
    if (bearer is not null)
    {
        start.ArgumentList.Add("-H");
        start.ArgumentList.Add("Authorization: Bearer " + bearer);
    }
    using var process = Process.Start(start)!;
    var text = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    File.Delete(output);
    var parts = text.Trim().Split(' ');
    if (process.ExitCode != 0 || long.Parse(parts[1], CultureInfo.InvariantCulture) != expected)
    {
        throw new InvalidOperationException($"curl failed ({process.ExitCode}): {text} {process.StandardError.ReadToEnd()}");
    }
    return double.Parse(parts[0], CultureInfo.InvariantCulture);
}

static async Task<double> JobAsync(DistEngine engine, string name, int capKBps)
{
    await engine.Jobs.CreateAsync(new NewJobRequest(name, "Big", null, ["bench-agent"], BandwidthLimitKBps: capKBps));
    await engine.Jobs.StartAsync(name);
    var deadline = Stopwatch.StartNew();
    while (true)
    {
        var status = (await engine.Jobs.GetStatusAsync(new JobStatusQuery(name))).Single();
        if (status.Status == TargetStatus.Succeeded)
        {
            return (status.CompletedAt!.Value - status.StartedAt!.Value).TotalSeconds;
        }
        if (status.IsFinal || deadline.Elapsed > TimeSpan.FromMinutes(10))
        {
            throw new InvalidOperationException($"Job {name} ended {status.Status}: {status.Message}");
        }
        await Task.Delay(50);
    }
}

// Each measurement starts with no dirty pages from the one before: every client writes the whole file, and writeback
// of the last one's gigabyte would otherwise slow whichever comes next.
static void Settle()
{
    using var sync = Process.Start(new ProcessStartInfo("sync") { UseShellExecute = false })!;
    sync.WaitForExit();
    Thread.Sleep(500);
}

static Process StartAgent(string executables, string url, string token, string state, TextWriter? log)
{
    var (fileName, dll) = ManagerLauncher.FindExecutable(executables);
    var start = new ProcessStartInfo(fileName) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    if (dll is not null)
    {
        start.ArgumentList.Add(dll);
    }
    foreach (var argument in new[] { "agent", "--manager", url, "--token", token, "--name", "bench-agent", "--state", state })
    {
        start.ArgumentList.Add(argument);
    }
    var process = Process.Start(start)!;
    var clock = Stopwatch.StartNew();
    process.OutputDataReceived += (_, e) => { if (log is not null && e.Data is not null) { log.WriteLine($"agent {clock.Elapsed.TotalSeconds:0.000}: {e.Data}"); } };
    process.ErrorDataReceived += (_, _) => { };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return process;
}

static string RepoRoot()
{
    for (var folder = AppContext.BaseDirectory; folder is not null; folder = Path.GetDirectoryName(folder))
    {
        if (File.Exists(Path.Combine(folder, "JP1Dist.sln")))
        {
            return folder;
        }
    }
    return Environment.CurrentDirectory;
}
