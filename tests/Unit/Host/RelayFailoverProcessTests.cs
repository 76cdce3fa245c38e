using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Server.Serving;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Several higher systems through real `jp1dist` processes on 127.0.0.1: agents below a relay, started with
/// `--manager RELAY,MANAGER`, are in the middle of a paced transfer when the relay is killed; they go on through the manager,
/// resume their transfers, install once each, and the status names the node that served them.
/// </summary>
public sealed class RelayFailoverProcessTests(HttpsManagerFixture manager, ITestOutputHelper output) : IClassFixture<HttpsManagerFixture>
{
    private DistEngine Engine => manager.Engine;

    private static readonly string[] Hosts = ["pc-fo-1", "pc-fo-2", "pc-fo-3"];

    [Fact]
    public async Task Clients_of_a_relay_killed_mid_job_finish_through_the_manager()
    {
        var relayState = Path.Combine(manager.Root, "relay-fo");
        var log = Path.Combine(manager.Root, "installed-fo.log");
        var agents = new List<NodeProcess>();
        NodeProcess? relay = null;
        try
        {
            relay = NodeProcess.Start(null, "relay", "--manager", manager.Url, "--token", await manager.NewTokenTextAsync(relay: true),
                "--listen", "https://127.0.0.1:0", "--name", "relay-fo", "--state", relayState);
            var relayUrl = (await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync("relay-fo")).SingleOrDefault()?.RelayUrl, "the relay registered", relay))!;
            await Eventually.ForAsync(() => Task.FromResult(File.Exists(Path.Combine(relayState, NodeCertificate.IssuedFileName)) ? "" : null), "the relay obtained its certificate", relay);

            // Each agent's own higher system is the relay; the manager stands in. One token, with the manager's pin: the
            // relay's certificate is trusted through the signing key, the manager's through the pin.
            var token = await manager.NewTokenTextAsync();
            foreach (var name in Hosts)
            {
                agents.Add(NodeProcess.Start(null, "agent", "--manager", $"{relayUrl},{manager.Url}", "--token", token, "--name", name,
                    "--state", Path.Combine(manager.Root, "agent-" + name)));
            }
            foreach (var name in Hosts)
            {
                var host = await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync(name)).SingleOrDefault(), $"{name} registered", agents[0]);
                Assert.Equal("relay-fo", host.HigherSystem);
            }

            // 4 MiB in 64 KiB segments at 256 KiB/s: each transfer takes about 16 s, long enough to be cut in the middle.
            var package = Path.Combine(manager.Root, "package-fo");
            Directory.CreateDirectory(package);
            File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME\" >> \"$1\"\n");
            var payload = new byte[4 * 1024 * 1024];
            new Random(13).NextBytes(payload);
            File.WriteAllBytes(Path.Combine(package, "payload.bin"), payload);
            await Engine.Packages.CreateAsync(new NewPackageRequest("FailoverApp", "1.0", package, "install.sh", [log], SegmentSize: 64 * 1024));
            await Engine.Jobs.CreateAsync(new NewJobRequest("Failover install", "FailoverApp", null, Hosts, BandwidthLimitKBps: 256));
            await Engine.Jobs.StartAsync("Failover install");

            // Every agent is transferring through the relay, each some way in, when the relay dies.
            await Eventually.ForAsync(async () =>
            {
                var status = await Engine.Jobs.GetStatusAsync(new JobStatusQuery("Failover install"));
                return status.All(s => s is { Status: TargetStatus.Transferring, SegmentsTransferred: > 2, ServedBy: "relay-fo" }) ? status : null;
            }, "every agent transferring through the relay", relay);
            relay.Process.Kill(entireProcessTree: true);
            await relay.Process.WaitForExitAsync();

            var final = await Eventually.ForAsync(async () =>
            {
                var status = await Engine.Jobs.GetStatusAsync(new JobStatusQuery("Failover install"));
                return status.All(s => s.IsFinal) ? status : null;
            }, "every target final after the relay died", agents[0], TimeSpan.FromSeconds(180));

            foreach (var target in final)
            {
                output.WriteLine($"{target.HostName}: {target.Status} via {target.ServedBy}: {target.Message}");
                Assert.Equal(TargetStatus.Succeeded, target.Status);
                Assert.Equal(DistHost.ManagerHigherSystem, target.ServedBy);
                Assert.Equal(target.TotalBytes, target.BytesTransferred);
            }
            // Each installed exactly once, and each agent said where it went on.
            Assert.Equal(Hosts.Order(), File.ReadAllLines(log).Order());
            foreach (var (name, agent) in Hosts.Zip(agents))
            {
                Assert.False(agent.Process.HasExited, $"{name} is still running");
                var text = await agent.StopAsync();
                Assert.Contains($"The higher system {relayUrl.TrimEnd('/')}/ cannot serve; trying {manager.Url.TrimEnd('/')}/ from now on", text, StringComparison.Ordinal);
            }
        }
        finally
        {
            foreach (var node in agents.Append(relay).OfType<NodeProcess>())
            {
                output.WriteLine(await node.StopAsync());
                node.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_relay_below_a_killed_relay_goes_on_through_the_manager()
    {
        var stateA = Path.Combine(manager.Root, "relay-fo-a");
        var stateB = Path.Combine(manager.Root, "relay-fo-b");
        var log = Path.Combine(manager.Root, "installed-fo-b.log");
        NodeProcess? relayA = null;
        NodeProcess? relayB = null;
        NodeProcess? agent = null;
        try
        {
            relayA = NodeProcess.Start(null, "relay", "--manager", manager.Url, "--token", await manager.NewTokenTextAsync(relay: true),
                "--listen", "https://127.0.0.1:0", "--name", "relay-fo-a", "--state", stateA);
            var urlA = (await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync("relay-fo-a")).SingleOrDefault()?.RelayUrl, "relay A registered", relayA))!;
            await Eventually.ForAsync(() => Task.FromResult(File.Exists(Path.Combine(stateA, NodeCertificate.IssuedFileName)) ? "" : null), "relay A obtained its certificate", relayA);
            relayB = NodeProcess.Start(null, "relay", "--manager", $"{urlA},{manager.Url}", "--token", await manager.NewTokenTextAsync(relay: true),
                "--listen", "https://127.0.0.1:0", "--name", "relay-fo-b", "--state", stateB);
            var registeredB = await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync("relay-fo-b")).SingleOrDefault(), "relay B registered through relay A", relayB);
            Assert.Equal("relay-fo-a", registeredB.HigherSystem);
            await Eventually.ForAsync(() => Task.FromResult(File.Exists(Path.Combine(stateB, NodeCertificate.IssuedFileName)) ? "" : null), "relay B obtained its certificate", relayB);
            agent = NodeProcess.Start(null, "agent", "--manager", registeredB.RelayUrl!, "--token", await manager.NewTokenTextAsync(), "--name", "pc-fo-b",
                "--state", Path.Combine(manager.Root, "agent-pc-fo-b"));
            Assert.Equal("relay-fo-b", (await Eventually.ForAsync(async () => (await Engine.Hosts.ListAsync("pc-fo-b")).SingleOrDefault(), "the agent registered", agent)).HigherSystem);

            // Relay A dies before the job exists: relay B must take the job's work from the manager and pass the results there.
            relayA.Process.Kill(entireProcessTree: true);
            await relayA.Process.WaitForExitAsync();
            var package = Path.Combine(manager.Root, "package-fo-b");
            Directory.CreateDirectory(package);
            File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME\" >> \"$1\"\n");
            await Engine.Packages.CreateAsync(new NewPackageRequest("FailoverRelayApp", "1.0", package, "install.sh", [log]));
            await Engine.Jobs.CreateAsync(new NewJobRequest("Failover relay install", "FailoverRelayApp", null, ["pc-fo-b"]));
            await Engine.Jobs.StartAsync("Failover relay install");

            var target = await Eventually.ForAsync(async () =>
                (await Engine.Jobs.GetStatusAsync(new JobStatusQuery("Failover relay install"))).Single() is { IsFinal: true } done ? done : null,
                "the target final through relay B and the manager", relayB, TimeSpan.FromSeconds(180));
            Assert.Equal(TargetStatus.Succeeded, target.Status);
            Assert.Equal("relay-fo-b", target.ServedBy);
            Assert.Equal(["pc-fo-b"], File.ReadAllLines(log));
            Assert.False(relayB.Process.HasExited, "relay B is still running");
            var text = await relayB.StopAsync();
            Assert.Contains($"The higher system {urlA.TrimEnd('/')}/ cannot serve; trying {manager.Url.TrimEnd('/')}/ from now on", text, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var node in new[] { agent, relayB, relayA }.OfType<NodeProcess>())
            {
                output.WriteLine(await node.StopAsync());
                node.Dispose();
            }
        }
    }
}
