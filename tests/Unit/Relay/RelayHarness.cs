using System.Text.RegularExpressions;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Managers;
using JP1Dist.Core.Packaging;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Relay;
using JP1Dist.Server.Serving;
using JP1Dist.Tests.Agent;
using JP1Dist.Tests.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace JP1Dist.Tests.Relay;

/// <summary>
/// A manager and relays in this process, each on its own 127.0.0.1 port, and agents run step by step under them. The
/// manager and a relay can be stopped and started again on the same port and state, as after a crash.
/// </summary>
public sealed partial class RelayHarness : IAsyncDisposable
{
    public const int SegmentSize = 4096;
    private readonly Dictionary<string, RelayNodeProcess> _relays = new(StringComparer.OrdinalIgnoreCase);
    private WebApplication? _manager;
    private int _managerPort;

    public TestFolder Folder { get; } = new();
    public string ManagerUrl => $"http://127.0.0.1:{_managerPort}";
    public string InstallLog => Path.Combine(Folder.Root, "installed.log");
    public byte[] Payload { get; } = Enumerable.Range(0, SegmentSize * 12).Select(i => (byte)(i * 13 % 251)).ToArray();

    public static async Task<RelayHarness> StartAsync()
    {
        var harness = new RelayHarness();
        harness.Folder.WriteFile("pkg/install.sh", "#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
        File.WriteAllBytes(Path.Combine(harness.Folder.Root, "pkg", "payload.bin"), harness.Payload);
        harness.Folder.WriteFile("pkg-slow/install.sh", "#!/bin/sh\nsleep 3\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
        await harness.StartManagerAsync();
        return harness;
    }

    public DistributionService Distribution => _manager!.Services.GetRequiredService<DistributionService>();

    /// <summary>Starts the manager (again, on the same port and data folder after <see cref="StopManagerAsync"/>).</summary>
    public async Task StartManagerAsync()
    {
        _manager = ManagerHost.Build(new ManagerOptions
        {
            ListenUrl = $"http://127.0.0.1:{(_managerPort == 0 ? 0 : _managerPort)}",
            Home = Folder.Engine.Folder.Root,
            QuietConsole = true,
        });
        await _manager.StartAsync();
        _managerPort = new Uri(_manager.BoundUrl()).Port;
    }

    public async Task StopManagerAsync()
    {
        if (_manager is not null)
        {
            await _manager.StopAsync();
            await _manager.DisposeAsync();
            _manager = null;
        }
    }

    /// <summary>Starts a relay below <paramref name="higherUrl"/> (the manager when null) and waits until the manager knows it.</summary>
    public async Task<RelayNodeProcess> StartRelayAsync(string name, string? higherUrl = null)
    {
        var token = await Folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relay " + name, Relay: true));
        var relay = new RelayNodeProcess(new RelayOptions
        {
            HigherSystemUrl = new Uri(higherUrl ?? ManagerUrl),
            Token = token.Token!,
            ListenUrl = "http://127.0.0.1:0",
            Name = name,
            StateFolder = Path.Combine(Folder.Root, "relay-" + name),
            QuietConsole = true,
            PruneInterval = TimeSpan.FromMilliseconds(200),
            ReportAnswerWait = TimeSpan.FromSeconds(5),
            UpwardPollWait = TimeSpan.FromSeconds(10),
        });
        await relay.StartAsync();
        _relays[name] = relay;
        await EventuallyAsync(async () => (await Folder.Engine.Hosts.ListAsync(name)).Count == 1, $"relay {name} registered");
        return relay;
    }

    /// <summary>Registers a package of the install script and the payload.</summary>
    public Task<DistPackage> PackageAsync(string name, DateTime? expiresAt = null, bool slow = false) =>
        Folder.Engine.Packages.CreateAsync(new NewPackageRequest(name, "1.0", Path.Combine(Folder.Root, slow ? "pkg-slow" : "pkg"), "install.sh", [InstallLog],
            SegmentSize: SegmentSize, ExpiresAt: expiresAt));

    /// <summary>An agent runtime below <paramref name="higherUrl"/>, on its own state folder (the same name again is the same agent).</summary>
    public async Task<AgentRuntime> AgentAsync(string name, string higherUrl, RecordingHandler? handler = null)
    {
        var token = await Folder.Engine.Hosts.NewEnrollmentTokenAsync("agent " + name);
        return new AgentRuntime(new AgentOptions
        {
            ManagerUrl = new Uri(higherUrl),
            Token = token.Token!,
            Name = name,
            StateFolder = Path.Combine(Folder.Root, "agent-" + name),
            PollWait = TimeSpan.Zero,
            ProgressReportInterval = TimeSpan.Zero,
        }, NullLogger.Instance, handler);
    }

    /// <summary>Creates and executes a job; the running manager dispatches it.</summary>
    public async Task ExecuteAsync(NewJobRequest job)
    {
        await Folder.Engine.Jobs.CreateAsync(job);
        var execution = await Folder.Engine.Jobs.StartAsync(job.Name);
        await Distribution.DispatchAsync(execution.ExecutionId, default);
    }

    public async Task<IReadOnlyList<DistJobStatus>> StatusAsync(string job) => await Folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery(job));

    /// <summary>Runs the agents (once each, again and again) until every target of the job is final.</summary>
    public async Task RunUntilFinalAsync(string job, params AgentRuntime[] agents)
    {
        await EventuallyAsync(async () =>
        {
            foreach (var agent in agents)
            {
                await agent.RunOnceAsync(CancellationToken.None);
            }
            var status = await StatusAsync(job);
            return status.Count > 0 && status.All(s => s.Status.IsFinal());
        }, $"job {job} finished");
    }

    /// <summary>The lines the install script wrote: one "host package" per install.</summary>
    public IReadOnlyList<string> Installs() => File.Exists(InstallLog) ? File.ReadAllLines(InstallLog) : [];

    /// <summary>jp1dist_content_bytes_served_total of a node.</summary>
    public static async Task<double> ContentBytesServedAsync(string url)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(url.TrimEnd('/') + "/metrics");
        var match = BytesServed().Match(text);
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"^jp1dist_content_bytes_served_total (\S+)$", RegexOptions.Multiline)]
    private static partial Regex BytesServed();

    /// <summary>Waits (bounded) until the condition holds.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            if (await condition())
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var relay in _relays.Values)
        {
            await relay.StopAsync();
        }
        await StopManagerAsync();
        Folder.Dispose();
    }
}

/// <summary>A relay in this process that can be stopped and started again on the same port and state folder.</summary>
public sealed class RelayNodeProcess(RelayOptions options)
{
    private WebApplication? _app;

    public RelayOptions Options { get; } = options;
    public string Url { get; private set; } = "";
    public RelayNode Node => _app!.Services.GetRequiredService<RelayNode>();

    public async Task StartAsync()
    {
        _app = RelayHost.Build(Options);
        await _app.StartAsync();
        Url = _app.BoundUrl();
        // Restarts keep the port, so lower clients find the relay where they left it.
        Options.ListenUrl = Url;
    }

    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }
}
