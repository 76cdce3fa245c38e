using System.Globalization;
using System.Net;
using System.Net.Sockets;
using JP1Dist.Contracts;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A node serves at most its connection budget at once (--max-connections here; by default its file-descriptor limit less
/// a reserve): a real manager process allowed one connection, one held by a client, an agent process that connects is
/// closed at once, with a log line and jp1dist_connections_shed_total; the manager keeps serving what it holds, and once
/// the place is free the agent, which backed off, comes back and registers.
/// </summary>
public sealed class ConnectionBudgetProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_connection_beyond_the_budget_is_closed_logged_and_counted_and_the_agent_comes_back_when_a_place_is_free()
    {
        await using var manager = await ManagerProcess.StartAsync(["--max-connections", "1"]);
        var url = new Uri(manager.Url);
        var held = new TcpClient();
        NodeProcess? agent = null;
        try
        {
            await held.ConnectAsync(IPAddress.Loopback, url.Port);
            // The held connection is served: the node answers on it.
            var stream = held.GetStream();
            await stream.WriteAsync("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray());
            var answer = new byte[64];
            var read = await stream.ReadAsync(answer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.StartsWith("HTTP/1.1 200", System.Text.Encoding.ASCII.GetString(answer, 0, read), StringComparison.Ordinal);

            var token = (await manager.Engine.Hosts.NewEnrollmentTokenAsync("budget")).Token!;
            agent = NodeProcess.Start(null, "agent", "--manager", manager.Url, "--token", token, "--name", "pc-budget",
                "--state", Path.Combine(manager.Root, "agent-pc-budget"));
            var logs = Path.Combine(manager.Home, "logs");
            await Eventually.ForAsync(() => Task.FromResult(LogText(logs).Contains("the most this node serves at once", StringComparison.Ordinal)),
                "the manager logs the connection it closed", manager.Node);
            Assert.Empty(await manager.Engine.Hosts.ListAsync(new HostQuery("pc-budget")));
        }
        finally
        {
            held.Dispose();
        }
        // The place is free: the agent's next try (after its jittered back-off) is served.
        await Eventually.ForAsync(async () => (await manager.Engine.Hosts.ListAsync(new HostQuery("pc-budget"))).Count == 1,
            "the agent comes back and registers", agent, TimeSpan.FromSeconds(120));
        // The agent's long poll holds the one place now; once it has stopped, the counter is read.
        output.WriteLine(await agent!.StopAsync());
        agent.Dispose();
        using var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        var metrics = await Eventually.ForAsync<string>(async () =>
        {
            try
            {
                return await client.GetStringAsync("/metrics");
            }
            catch (HttpRequestException)
            {
                return null; // the stopped agent's connection is not closed yet
            }
        }, "the metrics once the agent's connection is gone", manager.Node);
        var shed = metrics.Split('\n').Single(l => l.StartsWith("jp1dist_connections_shed_total ", StringComparison.Ordinal));
        Assert.True(double.Parse(shed.Split(' ')[1], CultureInfo.InvariantCulture) >= 1, shed);
    }

    private static string LogText(string folder) => !Directory.Exists(folder) ? "" : string.Concat(Directory.GetFiles(folder, "*.log").Select(f =>
    {
        using var reader = new StreamReader(new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        return reader.ReadToEnd();
    }));
}
