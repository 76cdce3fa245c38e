using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Tests.Host;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Power;

/// <summary>
/// Shutting computers down through real `jp1dist` processes on 127.0.0.1: agents whose --shutdown-command is a script that
/// logs into the same file as the installs, so the order of installs and shutdown shows, and how often it ran.
/// </summary>
public sealed class ShutdownProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-shutdown-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<NodeProcess> _nodes = [];
    private DistEngine _engine = null!;
    private string _url = "";
    private string _token = "";

    private string Log => Path.Combine(_root, "power.log");

    private string[] Lines() => File.Exists(Log) ? File.ReadAllLines(Log) : [];

    public async Task InitializeAsync()
    {
        var home = Path.Combine(_root, "home");
        _engine = TestDatabase.Engine(home);
        var manager = Start("manager", "--listen", "http://127.0.0.1:0", "--home", home);
        _url = (await Eventually.ForAsync(async () => (await _engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == manager.Process.Id && m.IsAlive),
            "the manager announced itself", manager)).Url;
        _token = (await _engine.Hosts.NewEnrollmentTokenAsync("shutdown agents")).Token!;
        var package = Path.Combine(_root, "package");
        Directory.CreateDirectory(package);
        File.WriteAllText(Path.Combine(package, "install.sh"),
            "#!/bin/sh\necho \"install $JP1DIST_PACKAGE_NAME start\" >> \"$1\"\nsleep 1\necho \"install $JP1DIST_PACKAGE_NAME end\" >> \"$1\"\n");
        File.WriteAllText(Path.Combine(_root, "shutdown.sh"), $"#!/bin/sh\necho \"shutdown $*\" >> '{Log}'\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(_root, "shutdown.sh"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        foreach (var name in new[] { "First", "Second" })
        {
            await _engine.Packages.CreateAsync(new NewPackageRequest(name, "1.0", package, "install.sh", [Log]));
        }
    }

    private NodeProcess Start(params string[] arguments)
    {
        var node = NodeProcess.Start(null, arguments);
        _nodes.Add(node);
        return node;
    }

    private string[] AgentArguments(string name, string url, bool once = false) =>
        ["agent", "--manager", url, "--token", _token, "--name", name, "--state", Path.Combine(_root, "agent-" + name),
            "--shutdown-command", Path.Combine(_root, "shutdown.sh"), "--shutdown-arguments", name, "now", "--power-grace-seconds", "1", .. once ? ["--once"] : Array.Empty<string>()];

    [Fact]
    public async Task ShutdownAfter_shuts_down_once_after_the_last_install_never_during_one_and_the_status_says_when()
    {
        using (var register = NodeProcess.Start(null, AgentArguments("pc-a", _url, once: true)))
        {
            Assert.Equal(0, await register.WaitAsync(Eventually.Limit));
        }
        foreach (var job in new[] { "First", "Second" })
        {
            await _engine.Jobs.CreateAsync(new NewJobRequest(job + " job", job, null, ["pc-a"], ShutdownAfter: true));
            await _engine.Jobs.StartAsync(job + " job");
        }
        var agent = Start(AgentArguments("pc-a", _url));

        // Both jobs asked; the shutdown ran once, after both installs.
        await Eventually.ForAsync(async () => (await _engine.Jobs.GetStatusAsync(new JobStatusQuery("* job"))).All(s => s.Message?.Contains("Shutdown done", StringComparison.Ordinal) == true),
            "both targets say the shutdown was done", agent);
        // The manager dispatches the two in either order; each install ran whole, and the shutdown came last, once.
        var lines = Lines();
        Assert.Equal(5, lines.Length);
        Assert.Equal("shutdown pc-a now", lines[^1]);
        Assert.Equal(["install First start", "install First end", "install Second start", "install Second end"],
            lines[..4].Chunk(2).OrderBy(pair => pair[0], StringComparer.Ordinal).SelectMany(pair => pair));
        foreach (var status in await _engine.Jobs.GetStatusAsync(new JobStatusQuery("* job")))
        {
            Assert.Equal(TargetStatus.Succeeded, status.Status);
            Assert.Contains("Shutdown asked at ", status.Message, StringComparison.Ordinal);
            Assert.Contains("Shutdown done: the agent ran the command at ", status.Message, StringComparison.Ordinal);
        }

        // Started again, the agent finds the computer did not go down (the command was a script): it says so and never runs it again.
        var log = await agent.StopAsync();
        output.WriteLine(log);
        using (var again = NodeProcess.Start(null, AgentArguments("pc-a", _url, once: true)))
        {
            Assert.Equal(0, await again.WaitAsync(Eventually.Limit));
            Assert.Contains("has not gone down since", await again.OutputAsync(), StringComparison.Ordinal);
        }
        Assert.Single(Lines(), line => line.StartsWith("shutdown", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stop_DistHost_reaches_an_agent_below_a_relay_and_one_under_the_manager_as_a_signed_order_taken_once()
    {
        var relayToken = (await _engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("shutdown relay", Relay: true))).Token!;
        var relay = Start("relay", "--manager", _url, "--token", relayToken, "--listen", "http://127.0.0.1:0", "--name", "relay-s", "--state", Path.Combine(_root, "relay"));
        var relayUrl = (await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("relay-s")).SingleOrDefault(), "the relay registered", relay)).RelayUrl!;
        var below = Start(AgentArguments("pc-below", relayUrl));
        var direct = Start(AgentArguments("pc-direct", _url));
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-below")).SingleOrDefault(), "pc-below registered", below);
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-direct")).SingleOrDefault(), "pc-direct registered", direct);

        // Bad input changes nothing.
        Assert.Equal("GraceOutOfRange", (await Assert.ThrowsAsync<DistException>(() => _engine.Hosts.StopAsync(new StopHostsRequest("pc-*", -1)))).ErrorId);
        Assert.Equal("HostNotFound", (await Assert.ThrowsAsync<DistException>(() => _engine.Hosts.StopAsync(new StopHostsRequest("nobody-*")))).ErrorId);

        var requested = await _engine.Hosts.StopAsync(new StopHostsRequest("pc-*", 1));
        Assert.Equal(["pc-below", "pc-direct"], requested.Select(r => r.HostName));
        Assert.All(requested, r => Assert.Equal((PowerOrderState.Requested, 1), (r.State, r.GraceSeconds)));

        foreach (var (name, node) in new[] { ("pc-below", below), ("pc-direct", direct) })
        {
            var host = await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync(name)).SingleOrDefault(h => h.PowerStatus?.Contains("Shutdown done", StringComparison.Ordinal) == true),
                $"{name} says its shutdown was done", node);
            output.WriteLine($"{name}: {host.PowerStatus}");
            Assert.StartsWith("Shutdown asked at ", host.PowerStatus, StringComparison.Ordinal);
            Assert.Contains("(Stop-DistHost by ", host.PowerStatus, StringComparison.Ordinal);
            Assert.Contains(" Shutdown done: the agent ran the command at ", host.PowerStatus, StringComparison.Ordinal);
        }
        Assert.Equal(["shutdown pc-below now", "shutdown pc-direct now"], Lines().Order(StringComparer.Ordinal));
        var audit = Assert.Single(await _engine.Audit.ListAsync(new AuditQuery(Operation: DistOperations.StopHost)));
        Assert.Equal("pc-*", audit.Target);
    }

    [Fact]
    public async Task Stop_DistHost_on_a_relay_runs_the_relays_own_shutdown_command_and_its_options_are_checked_like_the_agents()
    {
        var relayToken = (await _engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("shutdown relay", Relay: true))).Token!;
        string[] relayArguments = ["relay", "--manager", _url, "--token", relayToken, "--listen", "http://127.0.0.1:0", "--name", "relay-p",
            "--state", Path.Combine(_root, "relay-p")];

        // Bad power options are refused before anything starts, with the option named.
        using (var refused = NodeProcess.Start(null, [.. relayArguments, "--shutdown-arguments", "now"]))
        {
            Assert.Equal(2, await refused.WaitAsync(Eventually.Limit));
            Assert.Contains("jp1dist relay: --shutdown-arguments needs --shutdown-command.", await refused.OutputAsync(), StringComparison.Ordinal);
        }
        using (var refused = NodeProcess.Start(null, [.. relayArguments, "--power-grace-seconds", "-1"]))
        {
            Assert.Equal(2, await refused.WaitAsync(Eventually.Limit));
            Assert.Contains("jp1dist relay: --reboot-grace-seconds -1 is out of range", await refused.OutputAsync(), StringComparison.Ordinal);
        }
        Assert.Empty(await _engine.Hosts.ListAsync("relay-p"));

        var relay = Start([.. relayArguments, "--shutdown-command", Path.Combine(_root, "shutdown.sh"), "--shutdown-arguments", "relay-p", "now", "--power-grace-seconds", "1"]);
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("relay-p")).SingleOrDefault(), "the relay registered", relay);

        Assert.Equal(PowerOrderState.Requested, Assert.Single(await _engine.Hosts.StopAsync(new StopHostsRequest("relay-p", 1))).State);
        var host = await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("relay-p")).SingleOrDefault(h => h.PowerStatus?.Contains("Shutdown done", StringComparison.Ordinal) == true),
            "the relay says its shutdown was done", relay);
        output.WriteLine(host.PowerStatus);
        Assert.StartsWith("Shutdown asked at ", host.PowerStatus, StringComparison.Ordinal);
        Assert.Equal(["shutdown relay-p now"], Lines());
    }

    public async Task DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes))
        {
            output.WriteLine(await node.StopAsync());
            node.Dispose();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
