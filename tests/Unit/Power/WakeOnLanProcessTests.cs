using System.Net;
using System.Net.Sockets;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Tests.Host;
using Microsoft.EntityFrameworkCore;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Power;

/// <summary>
/// Wake-on-LAN through real `jp1dist` processes on 127.0.0.1: a manager, a relay and three agents (one under the manager,
/// one below the relay, one whose MAC address is unknown). UDP listeners on 127.0.0.1 stand for the hosts' networks: the
/// broadcast address is overridden to them (Start-DistHost -BroadcastAddress/-Port, the manager's --wake-address/--wake-port),
/// and each packet caught must be exactly the 102 bytes for the host's MAC.
/// </summary>
public sealed class WakeOnLanProcessTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-wol-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<NodeProcess> _nodes = [];
    private readonly UdpClient _jobListener = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly UdpClient _listener = new(new IPEndPoint(IPAddress.Loopback, 0));
    private DistEngine _engine = null!;
    private NodeProcess _relay = null!;

    private static readonly byte[] DirectMac = [0x52, 0x54, 0x00, 0x00, 0x00, 0x01];
    private static readonly byte[] BelowMac = [0x52, 0x54, 0x00, 0x00, 0x00, 0x02];

    private static int PortOf(UdpClient listener) => ((IPEndPoint)listener.Client.LocalEndPoint!).Port;

    public async Task InitializeAsync()
    {
        var home = Path.Combine(_root, "home");
        _engine = TestDatabase.Engine(home);
        var manager = Start("manager", "--listen", "http://127.0.0.1:0", "--home", home, "--wake-address", "127.0.0.1", "--wake-port", PortOf(_jobListener).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var url = (await Eventually.ForAsync(async () => (await _engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == manager.Process.Id && m.IsAlive),
            "the manager announced itself", manager)).Url;
        var relayToken = (await _engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("wol relay", Relay: true))).Token!;
        _relay = Start("relay", "--manager", url, "--token", relayToken, "--listen", "http://127.0.0.1:0", "--name", "relay-w", "--state", Path.Combine(_root, "relay"));
        var relayUrl = (await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("relay-w")).SingleOrDefault(), "the relay registered", _relay)).RelayUrl!;
        var token = (await _engine.Hosts.NewEnrollmentTokenAsync("wol agents")).Token!;
        foreach (var (name, higher) in new[] { ("pc-direct", url), ("pc-below", relayUrl), ("pc-nomac", url) })
        {
            var agent = Start("agent", "--manager", higher, "--token", token, "--name", name, "--state", Path.Combine(_root, "agent-" + name));
            await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync(name)).SingleOrDefault(), $"{name} registered", agent);
        }
        // The inventory as these computers' agents would report it; this machine's own interfaces decide nothing here.
        await using var db = _engine.Database.CreateContext();
        await SetMacAsync(db, "pc-direct", "52-54-00-00-00-01");
        await SetMacAsync(db, "pc-below", "52:54:00:00:00:02");
        await SetMacAsync(db, "pc-nomac", null);
        var package = Path.Combine(_root, "package");
        Directory.CreateDirectory(package);
        File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\nexit 0\n");
        await _engine.Packages.CreateAsync(new NewPackageRequest("Patch", "1.0", package, "install.sh"));
    }

    private static Task<int> SetMacAsync(DistDbContext db, string host, string? mac) =>
        db.Hosts.Where(h => h.Name == host).ExecuteUpdateAsync(s => s.SetProperty(h => h.MacAddress, mac));

    private NodeProcess Start(params string[] arguments)
    {
        var node = NodeProcess.Start(null, arguments);
        _nodes.Add(node);
        return node;
    }

    /// <summary>The next packet the listener catches, within a bound.</summary>
    private static async Task<byte[]> CatchAsync(UdpClient listener, NodeProcess? node = null)
    {
        using var bound = new CancellationTokenSource(Eventually.Limit);
        try
        {
            return (await listener.ReceiveAsync(bound.Token)).Buffer;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No magic packet arrived within {Eventually.Limit.TotalSeconds:0} s. {(node is null ? "" : await node.StopAsync())}");
        }
    }

    [Fact]
    public async Task Start_DistHost_sends_the_102_bytes_itself_asks_the_relay_for_its_lower_host_and_names_a_host_without_a_MAC()
    {
        var port = PortOf(_listener);
        var direct = Assert.Single(await _engine.Hosts.WakeAsync(new WakeHostsRequest("pc-direct", "127.0.0.1", port)));
        Assert.Equal((WakeOutcome.Sent, "127.0.0.1", port, DistHost.ManagerHigherSystem), (direct.Outcome, direct.Address, direct.Port, direct.SentBy));
        Assert.Equal(MagicPacketTests.Expected(DirectMac), await CatchAsync(_listener));

        // Below the relay: the relay process sends it on its network, from a signed order in its work snapshot.
        var below = Assert.Single(await _engine.Hosts.WakeAsync(new WakeHostsRequest("pc-below", "127.0.0.1", port)));
        Assert.Equal((WakeOutcome.AskedOfRelay, "relay-w"), (below.Outcome, below.SentBy));
        Assert.Contains("asked of relay 'relay-w'", below.Message, StringComparison.Ordinal);
        Assert.Equal(MagicPacketTests.Expected(BelowMac), await CatchAsync(_listener, _relay));
        // The relay reports the send through its outbox; Get-DistHost says who sent it and when.
        var woken = await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-below")).SingleOrDefault(h => h.PowerStatus?.StartsWith("Woken at ", StringComparison.Ordinal) == true),
            "the relay reported the send", _relay);
        Assert.Contains($"relay 'relay-w' sent the magic packet for 52:54:00:00:00:02 to 127.0.0.1:{port}.", woken.PowerStatus, StringComparison.Ordinal);
        await ReportsAreTakenOnceAndOnlyFromTheRelayAsync(woken.PowerStatus!);

        var none = Assert.Single(await _engine.Hosts.WakeAsync(new WakeHostsRequest("pc-nomac", "127.0.0.1", port)));
        Assert.Equal((WakeOutcome.NoMacAddress, null), (none.Outcome, none.Address));
        Assert.Contains("no MAC address is known for this host", none.Message, StringComparison.Ordinal);

        // Bad input changes nothing and sends nothing.
        Assert.Equal("BroadcastAddressInvalid", (await Assert.ThrowsAsync<DistException>(() => _engine.Hosts.WakeAsync(new WakeHostsRequest("pc-*", "not-an-address")))).ErrorId);
        Assert.Equal("WakePortOutOfRange", (await Assert.ThrowsAsync<DistException>(() => _engine.Hosts.WakeAsync(new WakeHostsRequest("pc-*", Port: 0)))).ErrorId);
        Assert.Equal("HostNotFound", (await Assert.ThrowsAsync<DistException>(() => _engine.Hosts.WakeAsync(new WakeHostsRequest("nobody-*")))).ErrorId);

        // Each use is audited with the outcome per host.
        var audit = await _engine.Audit.ListAsync(new AuditQuery(Operation: DistOperations.StartHost));
        Assert.Equal(3, audit.Count);

        var relayLog = await _relay.StopAsync();
        output.WriteLine(relayLog);
        Assert.Contains("Woke pc-below as the manager asked", relayLog, StringComparison.Ordinal);
        Assert.Single(relayLog.Split('\n'), line => line.Contains("Woke pc-below", StringComparison.Ordinal)); // sent once, whatever the snapshots since
    }

    [Fact]
    public async Task A_job_with_WakeOnLan_wakes_its_targets_its_lead_before_the_distribution_time()
    {
        // Distributed in 30 minutes, woken 60 minutes before: that is now, while the targets wait for their time.
        await _engine.Jobs.CreateAsync(new NewJobRequest("Patch night", "Patch", null, ["pc-direct", "pc-below", "pc-nomac"],
            DistributeAt: DateTime.UtcNow.AddMinutes(30), WakeOnLan: true, WakeLeadMinutes: 60));
        await _engine.Jobs.StartAsync("Patch night");

        // The manager sends for pc-direct, the relay for pc-below, each to the manager's --wake-address and --wake-port.
        var caught = new[] { await CatchAsync(_jobListener, _relay), await CatchAsync(_jobListener, _relay) };
        Assert.Contains(MagicPacketTests.Expected(DirectMac), caught);
        Assert.Contains(MagicPacketTests.Expected(BelowMac), caught);

        var status = (await _engine.Jobs.GetStatusAsync(new JobStatusQuery("Patch night"))).ToDictionary(s => s.HostName);
        Assert.All(status.Values, s => Assert.Equal(TargetStatus.Waiting, s.Status));
        Assert.StartsWith("Woken at ", status["pc-direct"].Message, StringComparison.Ordinal);
        Assert.Contains("the manager sent the magic packet", status["pc-direct"].Message, StringComparison.Ordinal);
        // pc-below's target says the relay was asked, then, once the relay reported, that it sent the packet and when.
        var below = await Eventually.ForAsync(async () => (await _engine.Jobs.GetStatusAsync(new JobStatusQuery("Patch night")))
            .SingleOrDefault(s => s.HostName == "pc-below" && s.Message?.Contains("relay 'relay-w' sent the magic packet", StringComparison.Ordinal) == true),
            "the relay's report of the send reached the target's status", _relay);
        Assert.StartsWith("Woken at ", below.Message, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Waiting, below.Status);
        Assert.StartsWith("Not woken: no MAC address is known for this host", status["pc-nomac"].Message, StringComparison.Ordinal);
        var job = Assert.Single(await _engine.Jobs.ListAsync("Patch night"));
        Assert.Equal((true, 60, false), (job.WakeOnLan, job.WakeLeadMinutes, job.ShutdownAfter));
    }

    /// <summary>The relay's report sent again changes nothing; the same report from another host (not the order's relay) is not taken.</summary>
    private async Task ReportsAreTakenOnceAndOnlyFromTheRelayAsync(string status)
    {
        await using var db = _engine.Database.CreateContext();
        var order = await db.WakeOrders.AsNoTracking().OrderBy(w => w.CreatedAt).LastAsync();
        var again = new ReportRequest(order.Id, Protocol.Power.PowerReports.WakeSent, Message: "Woken at 2000-01-01 00:00:00 UTC: sent again.");
        var repeat = await Core.Hosts.HostWake.ReportAsync(db, order.RelayId, again, DateTime.UtcNow, CancellationToken.None);
        Assert.False(repeat!.Accepted);
        Assert.Null(await Core.Hosts.HostWake.ReportAsync(db, order.HostId, again, DateTime.UtcNow, CancellationToken.None));
        Assert.Equal(status, (await _engine.Hosts.ListAsync("pc-below")).Single().PowerStatus);
    }

    [Fact]
    public async Task A_relay_that_kept_a_wake_order_and_died_before_sending_sends_it_at_its_start_and_never_twice()
    {
        var port = PortOf(_listener);
        var relayState = Path.Combine(_root, "relay");
        _relay.Process.Kill(entireProcessTree: true);
        await _relay.Process.WaitForExitAsync();

        // Asked while the relay is down; then the relay's state holds exactly the snapshot the manager serves it now, with
        // the order: as if the relay had kept it and died before sending it. Its poll with that snapshot's tag brings nothing new.
        Assert.Equal(WakeOutcome.AskedOfRelay, Assert.Single(await _engine.Hosts.WakeAsync(new WakeHostsRequest("pc-below", "127.0.0.1", port))).Outcome);
        await using (var db = _engine.Database.CreateContext())
        {
            var relayId = (await _engine.Hosts.ListAsync("relay-w")).Single().Id;
            var below = await Core.Hosts.HostTree.DescendantsAsync(db, relayId, CancellationToken.None);
            var work = await new Core.Distribution.DistributionService(_engine, new Core.Distribution.HostSignals()).GetRelayWorkAsync(below, CancellationToken.None, relayId);
            Assert.Single(work.WakeOrders!);
            using var store = new Server.Relay.RelayStore(Path.Combine(relayState, "relay.db"));
            await store.SaveSnapshotAsync(work, CancellationToken.None);
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        string[] relayArguments = ["relay", "--manager", (await _engine.Managers.ListAsync()).First(m => m.IsAlive).Url, "--listen", "http://127.0.0.1:0", "--name", "relay-w", "--state", relayState];
        var restarted = Start(relayArguments);
        Assert.Equal(MagicPacketTests.Expected(BelowMac), await CatchAsync(_listener, restarted));
        var first = await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-below")).SingleOrDefault(h => h.PowerStatus?.StartsWith("Woken at ", StringComparison.Ordinal) == true),
            "the restarted relay reported the send", restarted);
        Assert.Contains("relay 'relay-w' sent the magic packet", first.PowerStatus, StringComparison.Ordinal);

        // Killed again after it recorded the send: started once more, it does not send it again. A new order is the marker
        // that its start is over: the one packet caught is the new order's, and nothing else arrived before its report.
        restarted.Process.Kill(entireProcessTree: true);
        await restarted.Process.WaitForExitAsync();
        var again = Start(relayArguments);
        Assert.Equal(WakeOutcome.AskedOfRelay, Assert.Single(await _engine.Hosts.WakeAsync(new WakeHostsRequest("pc-below", "127.0.0.1", port))).Outcome);
        Assert.Equal(MagicPacketTests.Expected(BelowMac), await CatchAsync(_listener, again));
        await Eventually.ForAsync(async () =>
        {
            await using var db = _engine.Database.CreateContext();
            var orders = await db.WakeOrders.AsNoTracking().OrderBy(w => w.CreatedAt).ToListAsync();
            return orders.Count == 2 && orders.All(o => o.ReportedAt is not null) ? orders : null;
        }, "the new order's send was reported", again);
        Assert.Equal(0, _listener.Available);
        var log = await again.StopAsync();
        output.WriteLine(log);
        Assert.Single(log.Split('\n'), line => line.Contains("Woke pc-below", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Late_joiners_of_a_woken_WakeOnLan_job_are_woken_when_an_administrator_adds_them_and_noted_awake_when_they_register()
    {
        // An ID group job whose wake has fired already (its lead reaches back past now), while the group was empty.
        await _engine.IdGroups.CreateAsync("Late", null);
        await _engine.IdGroups.SetPolicyAsync("Late", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["late-*"] }]);
        await _engine.Jobs.CreateAsync(new NewJobRequest("Late night", "Patch", null, ["Late"], DistributeAt: DateTime.UtcNow.AddMinutes(30),
            DestinationType: DestinationType.IdGroup, WakeOnLan: true, WakeLeadMinutes: 60));
        await _engine.Jobs.StartAsync("Late night");
        await Eventually.ForAsync(async () =>
        {
            await using var db = _engine.Database.CreateContext();
            return await db.JobExecutions.AnyAsync(x => x.WokenAt != null && db.Jobs.Any(j => j.Id == x.JobId && j.Name == "Late night")) ? "woken" : null;
        }, "the job's wake fired");

        // Added by an administrator, the hosts may be off: woken on joining, the manager for pc-direct, the relay for pc-below
        // (their networks set to loopback, so the packets stay on this computer).
        await using (var db = _engine.Database.CreateContext())
        {
            await db.Hosts.Where(h => h.Name == "pc-direct" || h.Name == "pc-below").ExecuteUpdateAsync(s => s.SetProperty(h => h.NetworksJson, "[\"127.0.0.1/32\"]"));
        }
        await _engine.IdGroups.AddMembersAsync("Late", ["pc-direct", "pc-below"]);
        var status = (await _engine.Jobs.GetStatusAsync(new JobStatusQuery("Late night"))).ToDictionary(s => s.HostName);
        Assert.StartsWith("Joined the ID group at ", status["pc-direct"].Message, StringComparison.Ordinal);
        Assert.Contains("woken on joining. Woken at ", status["pc-direct"].Message, StringComparison.Ordinal);
        Assert.Contains("the manager sent the magic packet for 52-54-00-00-00-01 to 127.0.0.1:9.", status["pc-direct"].Message, StringComparison.Ordinal);
        Assert.Contains("asked of relay 'relay-w'", status["pc-below"].Message, StringComparison.Ordinal);
        var below = await Eventually.ForAsync(async () => (await _engine.Jobs.GetStatusAsync(new JobStatusQuery("Late night")))
            .SingleOrDefault(s => s.HostName == "pc-below" && s.Message?.Contains("relay 'relay-w' sent the magic packet", StringComparison.Ordinal) == true),
            "the relay reported waking the late joiner", _relay);
        Assert.Contains("to 127.0.0.1:9.", below.Message, StringComparison.Ordinal);

        // A host that joins through its own registration is on: its target says so, and nothing is sent for it.
        var token = (await _engine.Hosts.NewEnrollmentTokenAsync("late agents")).Token!;
        var late = Start("agent", "--manager", (await _engine.Managers.ListAsync()).First(m => m.IsAlive).Url, "--token", token, "--name", "late-pc",
            "--state", Path.Combine(_root, "agent-late-pc"));
        var awake = await Eventually.ForAsync(async () => (await _engine.Jobs.GetStatusAsync(new JobStatusQuery("Late night"))).SingleOrDefault(s => s.HostName == "late-pc"),
            "late-pc became a target", late);
        Assert.Equal(TargetStatus.Waiting, awake.Status);
        Assert.StartsWith("Awake: joined the ID group at ", awake.Message, StringComparison.Ordinal);
        Assert.Contains("when its agent registered or reported", awake.Message, StringComparison.Ordinal);
        await using (var db = _engine.Database.CreateContext())
        {
            Assert.False(await db.WakeOrders.AnyAsync(w => db.Hosts.Any(h => h.Id == w.HostId && h.Name == "late-pc")));
        }
    }

    [Fact]
    public async Task Bad_wake_settings_on_a_job_are_refused_and_save_nothing()
    {
        var lead = await Assert.ThrowsAsync<DistException>(() => _engine.Jobs.CreateAsync(new NewJobRequest("Lead only", "Patch", null, ["pc-direct"], WakeLeadMinutes: 5)));
        Assert.Equal("WakeLeadWithoutWakeOnLan", lead.ErrorId);
        var range = await Assert.ThrowsAsync<DistException>(() => _engine.Jobs.CreateAsync(
            new NewJobRequest("Too early", "Patch", null, ["pc-direct"], WakeOnLan: true, WakeLeadMinutes: NewJobRequest.MaxWakeLeadMinutes + 1)));
        Assert.Equal("WakeLeadOutOfRange", range.ErrorId);
        var shutdown = await Assert.ThrowsAsync<DistException>(() => _engine.Jobs.CreateAsync(
            new NewJobRequest("Store", "Patch", null, ["relay-w"], JobType.TransferToRelay, ShutdownAfter: true)));
        Assert.Equal("InstallSettingNotForTransfer", shutdown.ErrorId);
        Assert.Empty(await _engine.Jobs.ListAsync());
    }

    public void Dispose()
    {
        _listener.Dispose();
        _jobListener.Dispose();
    }

    public async Task DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes))
        {
            output.WriteLine(await node.StopAsync());
            node.Dispose();
        }
        Dispose();
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
