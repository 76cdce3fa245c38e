using System.Net;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Packaging;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Serving;
using JP1Dist.Tests.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// An in-process manager on 127.0.0.1:0 and agents run step by step (RunOnceAsync) through a handler that records,
/// corrupts or cuts content requests. The package is an install script and a payload of <see cref="Segments"/> segments.
/// </summary>
public sealed class AgentHarness : IAsyncDisposable
{
    public const int SegmentSize = 4096;
    public const int Segments = 10;
    private WebApplication? _app;

    public TestFolder Folder { get; } = new();
    public string Url { get; private set; } = "";
    public string InstallLog => Path.Combine(Folder.Root, "installed.log");
    public DistributionService Distribution => _app!.Services.GetRequiredService<DistributionService>();
    public byte[] Payload { get; } = Enumerable.Range(0, SegmentSize * Segments).Select(i => (byte)(i * 7 % 251)).ToArray();

    public static async Task<AgentHarness> StartAsync()
    {
        var harness = new AgentHarness();
        harness._app = ManagerHost.Build(new ManagerOptions { ListenUrl = "http://127.0.0.1:0", Home = harness.Folder.Engine.Folder.Root, QuietConsole = true });
        await harness._app.StartAsync();
        harness.Url = harness._app.BoundUrl();
        harness.Folder.WriteFile("pkg/install.sh", "#!/bin/sh\necho \"$JP1DIST_PACKAGE_NAME $JP1DIST_PACKAGE_VERSION\" >> \"$1\"\n");
        File.WriteAllBytes(Path.Combine(harness.Folder.Root, "pkg", "payload.bin"), harness.Payload);
        return harness;
    }

    /// <summary>Registers a package of the script and the payload.</summary>
    public Task<DistPackage> PackageAsync(string name, InstallConditions? conditions = null, DateTime? installAt = null, string version = "1.0") =>
        Folder.Engine.Packages.CreateAsync(new NewPackageRequest(name, version, Path.Combine(Folder.Root, "pkg"), "install.sh", [InstallLog],
            SegmentSize: SegmentSize, InstallConditions: conditions, InstallAt: installAt));

    /// <summary>A handler that knows which requests are for the payload.</summary>
    public RecordingHandler Handler() => new() { PayloadSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Payload)) };

    /// <summary>A new agent runtime on its state folder (the same folder again is the same agent after a restart).</summary>
    public async Task<AgentRuntime> AgentAsync(string name, RecordingHandler handler, TimeProvider? time = null)
    {
        var token = await Folder.Engine.Hosts.NewEnrollmentTokenAsync("agent test");
        return new AgentRuntime(new AgentOptions
        {
            ManagerUrl = new Uri(Url),
            Token = token.Token,
            Name = name,
            StateFolder = Path.Combine(Folder.Root, "agent-" + name),
            PollWait = TimeSpan.Zero,
            ProgressReportInterval = TimeSpan.Zero, // a report after every segment: the tests stop at exact boundaries
        }, NullLogger.Instance, handler, time);
    }

    /// <summary>Creates and executes a job, and dispatches it at once (as its trigger would).</summary>
    public async Task ExecuteAsync(NewJobRequest job)
    {
        await Folder.Engine.Jobs.CreateAsync(job);
        var execution = await Folder.Engine.Jobs.StartAsync(job.Name);
        await Distribution.DispatchAsync(execution.ExecutionId, default);
    }

    public async Task<DistJobStatus> StatusAsync(string job) => (await Folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery(job))).Single();

    public int InstallCount() => File.Exists(InstallLog) ? File.ReadAllLines(InstallLog).Length : 0;

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Folder.Dispose();
    }
}

/// <summary>
/// Records each content request (hash, start offset); can corrupt one payload byte once, or run an action before the
/// agent reads payload bytes from a given offset on (to cut, suspend or cancel a transfer in the middle of a segment).
/// </summary>
public sealed class RecordingHandler : DelegatingHandler
{
    public sealed record ContentRequest(string Sha256, long Offset, bool IsScript);

    public RecordingHandler() : base(new SocketsHttpHandler()) { }

    public List<ContentRequest> Requests { get; } = [];
    public List<string> Reports { get; } = [];
    /// <summary>The hash of the file whose requests count as payload.</summary>
    public string? PayloadSha256 { get; set; }
    /// <summary>A payload byte (by its offset in the file) to corrupt once.</summary>
    public long? CorruptOffset { get; set; }
    /// <summary>Runs before each read of payload bytes, with the file offset the read starts at.</summary>
    public Func<long, Task>? BeforePayloadRead { get; set; }
    /// <summary>Rewrites the body of work answers (a tampering relay).</summary>
    public Func<string, string>? Rewrite { get; set; }
    /// <summary>
    /// Registrations the manager receives and processes but whose answer never reaches the agent (the connection cut after
    /// the manager committed: a timeout, or the manager killed), counted down by each; <see cref="LoseRegisterAnswerBy"/>
    /// says how the agent sees it.
    /// </summary>
    public int LoseRegisterAnswers { get; set; }
    /// <summary>What the agent meets instead of a lost registration answer (default: a broken connection).</summary>
    public Func<Exception> LoseRegisterAnswerBy { get; set; } = () => new HttpRequestException("The connection was cut before the answer arrived.");

    /// <summary>The offsets the payload requests started at.</summary>
    public IEnumerable<long> PayloadOffsets => Requests.Where(r => !r.IsScript).Select(r => r.Offset);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (path.StartsWith(ApiPaths.Report, StringComparison.Ordinal))
        {
            Reports.Add(await request.Content!.ReadAsStringAsync(cancellationToken));
        }
        if (path == ApiPaths.Register && LoseRegisterAnswers > 0)
        {
            LoseRegisterAnswers--;
            (await base.SendAsync(request, cancellationToken)).Dispose();
            throw LoseRegisterAnswerBy();
        }
        if (path.StartsWith(ApiPaths.Work, StringComparison.Ordinal) && Rewrite is { } rewrite)
        {
            var answer = await base.SendAsync(request, cancellationToken);
            var body = rewrite(await answer.Content.ReadAsStringAsync(cancellationToken));
            answer.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            return answer;
        }
        if (!path.StartsWith(ApiPaths.ContentPrefix, StringComparison.Ordinal))
        {
            return await base.SendAsync(request, cancellationToken);
        }
        var sha = path[ApiPaths.ContentPrefix.Length..];
        var from = request.Headers.Range!.Ranges.Single().From!.Value;
        var isScript = !string.Equals(sha, PayloadSha256, StringComparison.OrdinalIgnoreCase);
        lock (Requests)
        {
            Requests.Add(new ContentRequest(sha, from, isScript));
        }
        var response = await base.SendAsync(request, cancellationToken);
        if (isScript)
        {
            return response;
        }
        var inner = await response.Content.ReadAsStreamAsync(cancellationToken);
        var wrapped = new StreamContent(new WatchedStream(inner, from, this));
        foreach (var header in response.Content.Headers)
        {
            wrapped.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
        response.Content = wrapped;
        return response;
    }

    /// <summary>Passes the payload through, calling the hook before each read and corrupting the chosen byte once.</summary>
    private sealed class WatchedStream(Stream inner, long start, RecordingHandler owner) : Stream
    {
        private long _position = start;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (owner.BeforePayloadRead is { } before)
            {
                await before(_position);
            }
            var read = await inner.ReadAsync(buffer, cancellationToken);
            if (owner.CorruptOffset is { } corrupt && corrupt >= _position && corrupt < _position + read)
            {
                owner.CorruptOffset = null;
                buffer.Span[(int)(corrupt - _position)] ^= 0xFF;
            }
            _position += read;
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

/// <summary>A clock standing still at a chosen time.</summary>
public sealed class ManualTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;
    public override DateTimeOffset GetUtcNow() => Now;
}
