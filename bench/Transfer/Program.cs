using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using JP1Dist.Bench.Transfer;
using JP1Dist.Engine;
using JP1Dist.Engine.Agent;
using JP1Dist.Engine.Distribution;
using JP1Dist.Engine.Domain;
using JP1Dist.Engine.Jobs;
using JP1Dist.Engine.Manager;
using JP1Dist.Engine.Packaging;
using JP1Dist.Engine.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

// One package of --size-mb (1024) to one agent over loopback, against nginx serving the same bytes to curl in the
// same run. Progress goes to stderr; stdout carries the JSON document and one summary line.

var sizeMB = Option("--size-mb", 1024);
var runs = Option("--runs", 3);
var segmentMB = Option("--segment-mb", 1);
var capKBps = Option("--cap-kbps", 100 * 1024);
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

    var app = ManagerHost.Build(new ManagerOptions { ListenUrl = "http://127.0.0.1:0", Home = home, QuietConsole = true });
    await app.StartAsync();
    try
    {
        var url = app.BoundUrl();
        var engine = new DistEngine(new DataFolder(home));
        var distribution = app.Services.GetRequiredService<DistributionService>();
        log.WriteLine("Registering the package (content store, segment hashes, signed manifest) ...");
        var package = await engine.Packages.CreateAsync(new NewPackageRequest("Big", "1.0", source, OperatingSystem.IsWindows() ? "cmd.exe" : "true",
            OperatingSystem.IsWindows() ? ["/c", "exit 0"] : [], SegmentSize: (long)segmentMB * 1024 * 1024));
        var token = await engine.Hosts.NewEnrollmentTokenAsync("bench");
        var timing = new TimingHandler();
        using var agent = new AgentRuntime(new AgentOptions
        {
            ManagerUrl = new Uri(url), Token = token.Token, Name = "bench-agent", StateFolder = Path.Combine(scratch, "agent"), PollWait = TimeSpan.Zero,
        }, NullLogger.Instance, timing);
        await agent.RunOnceAsync(default);

        var content = engine.Content.Root;
        var sha = await PayloadHashAsync(engine);
        var relative = Path.GetRelativePath(content, engine.Content.PathOf(sha)).Replace('\\', '/');
        using var nginx = await Nginx.StartAsync(nginxBinary, content, scratch);
        log.WriteLine($"{nginx.Version} on 127.0.0.1:{nginx.Port}; jp1dist manager on {url}");

        var curlSeconds = new List<double>();
        var jobSeconds = new List<double>();
        var windowSeconds = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            curlSeconds.Add(Curl($"http://127.0.0.1:{nginx.Port}/{relative}", Path.Combine(scratch, "curl.out"), bytes));
            log.WriteLine($"run {run}: curl from nginx {curlSeconds[^1]:0.000} s");
            var (job, window) = await JobAsync(engine, distribution, agent, timing, $"run {run}", 0);
            jobSeconds.Add(job);
            windowSeconds.Add(window);
            log.WriteLine($"run {run}: jp1dist job {job:0.000} s (transfer window {window:0.000} s)");
        }
        log.WriteLine($"Capped run at {capKBps} KB/s ...");
        var (cappedJob, cappedWindow) = await JobAsync(engine, distribution, agent, timing, "capped", capKBps);
        var cappedRate = bytes / cappedWindow / 1024;

        double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        double MBps(double seconds) => bytes / seconds / (1024 * 1024);
        var result = new
        {
            benchmark = "transfer: one package to one agent over loopback, against nginx to curl",
            sizeBytes = bytes,
            segmentSize = package.SegmentSize,
            runs,
            nginx = nginx.Version,
            mode = "in-process manager (ManagerHost.Build: Kestrel, Quartz, SQLite) and AgentRuntime in one process; nginx and curl are separate processes; both write the file to the same disk",
            machine = new { Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, framework = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription },
            curlSeconds,
            jobSeconds,
            transferWindowSeconds = windowSeconds,
            nginxMBps = MBps(Median(curlSeconds)),
            jobMBps = MBps(Median(jobSeconds)),
            transferMBps = MBps(Median(windowSeconds)),
            ratioJob = Median(curlSeconds) / Median(jobSeconds),
            ratioTransfer = Median(curlSeconds) / Median(windowSeconds),
            cap = new { limitKBps = capKBps, jobSeconds = cappedJob, windowSeconds = cappedWindow, achievedKBps = cappedRate, deviation = cappedRate / capKBps - 1 },
        };
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"transfer: {sizeMB} MB, nginx {result.nginxMBps:0} MB/s, jp1dist job {result.jobMBps:0} MB/s (x{result.ratioJob:0.00} of nginx), transfer {result.transferMBps:0} MB/s (x{result.ratioTransfer:0.00}); cap {capKBps} KB/s held at {cappedRate:0} KB/s ({result.cap.deviation * 100:+0.0;-0.0;0.0}%)"));
        return 0;
    }
    finally
    {
        await app.StopAsync();
        await app.DisposeAsync();
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
    return JsonSerializer.Deserialize<JP1Dist.Engine.Protocol.PackageManifest>(manifest, JP1Dist.Engine.Protocol.ProtocolJson.Options)!.Files.Single().Sha256;
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

static double Curl(string url, string output, long expected)
{
    var start = new ProcessStartInfo("curl") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var argument in new[] { "-sS", "-o", output, "-w", "%{time_total} %{size_download}", url })
    {
        start.ArgumentList.Add(argument);
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

static async Task<(double Job, double Window)> JobAsync(DistEngine engine, DistributionService distribution, AgentRuntime agent, TimingHandler timing, string name, int capKBps)
{
    await engine.Jobs.CreateAsync(new NewJobRequest(name, "Big", null, ["bench-agent"], BandwidthLimitKBps: capKBps));
    var execution = await engine.Jobs.StartAsync(name);
    await distribution.DispatchAsync(execution.ExecutionId, default);
    timing.Reset();
    var clock = Stopwatch.StartNew();
    await agent.RunOnceAsync(default);
    var seconds = clock.Elapsed.TotalSeconds;
    var status = (await engine.Jobs.GetStatusAsync(new JobStatusQuery(name))).Single();
    if (status.Status != TargetStatus.Succeeded)
    {
        throw new InvalidOperationException($"Job {name} ended {status.Status}: {status.Message}");
    }
    return (seconds, timing.Window.TotalSeconds);
}

/// <summary>Times the transfer window: from the first content request to the last byte of the last content response.</summary>
internal sealed class TimingHandler() : DelegatingHandler(new SocketsHttpHandler())
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _first;
    private TimeSpan _last;

    public TimeSpan Window => _first is { } first ? _last - first : TimeSpan.Zero;

    public void Reset()
    {
        _first = null;
        _last = TimeSpan.Zero;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var content = request.RequestUri!.AbsolutePath.Contains("/content/", StringComparison.Ordinal);
        if (content)
        {
            _first ??= _clock.Elapsed;
        }
        var response = await base.SendAsync(request, cancellationToken);
        if (content)
        {
            var inner = await response.Content.ReadAsStreamAsync(cancellationToken);
            var headers = response.Content.Headers;
            var wrapped = new StreamContent(new EndTimingStream(inner, () => _last = _clock.Elapsed));
            foreach (var header in headers)
            {
                wrapped.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
            response.Content = wrapped;
        }
        return response;
    }

    private sealed class EndTimingStream(Stream inner, Action ended) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Track(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Track(await inner.ReadAsync(buffer, cancellationToken));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Track(int read)
        {
            ended();
            return read;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
