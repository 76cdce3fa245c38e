using System.Globalization;
using System.Net;
using System.Net.Sockets;
using JP1Dist.Contracts;
using JP1Dist.Server.Serving;
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

    [Fact]
    public async Task Connections_and_downloads_beyond_the_descriptors_left_are_refused_and_the_database_stays_usable()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no limit on open files there: --max-connections alone bounds a node (the test above)
        }
        // 700 descriptors, 256 kept. The manager's own (the runtime's ~250 for its assemblies, the database, logs) are counted
        // too: without that, 444 connections were admitted beside them and the process ran out (the scrape below was
        // dropped). Each download holds a socket and a file; how many files are open at once depends on how fast the
        // kernel takes the bytes, so the 503 ContentBusy rule is shown exactly by ConnectionBudgetTests.
        const int limit = 700;
        await using var manager = await ManagerProcess.StartAsync([], descriptorLimit: limit);
        var url = new Uri(manager.Url);
        var content = Path.Combine(manager.Root, "big.bin");
        var bytes = new byte[2 << 20];
        Random.Shared.NextBytes(bytes);
        await File.WriteAllBytesAsync(content, bytes);
        var sha = await manager.Engine.Content.AddFileAsync(content);
        var token = (await manager.Engine.Hosts.NewEnrollmentTokenAsync("fds")).Token!;
        var host = await manager.Engine.Hosts.RegisterAsync(new Protocol.RegisterRequest(token, "pc-fds", "Linux", "6.1", "X64", ["10.0.0.9"], null, "1.0"));
        var request = System.Text.Encoding.ASCII.GetBytes($"GET {Protocol.ApiPaths.ContentPrefix}{sha} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + $"Authorization: Bearer {host.HostId}.{host.Credential}\r\n\r\n");

        // A connection held from before, as an administrator's scrape.
        using var scrape = new TcpClient();
        await scrape.ConnectAsync(IPAddress.Loopback, url.Port);
        var downloads = new List<Socket>();
        try
        {
            // 300 agents downloading slowly at once: each reads a little every second (faster than the server's minimum rate).
            for (var i = 0; i < 300; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                downloads.Add(socket);
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, url.Port);
                    await socket.SendAsync(request);
                }
                catch (SocketException)
                {
                    // closed at once: shed
                }
            }
            var buffer = new byte[1024];
            string? metrics = null;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            for (var round = 0; DateTime.UtcNow < deadline; round++)
            {
                foreach (var socket in downloads.Where(s => s.Connected && s.Available > 0))
                {
                    try
                    {
                        _ = socket.Receive(buffer);
                    }
                    catch (SocketException)
                    {
                    }
                }
                metrics = await MetricsOnAsync(scrape);
                if (Value(metrics, "jp1dist_connections_shed_total") >= 1 && Value(metrics, "jp1dist_content_bytes_served_total") > 0
                    && round >= 2) // the descriptors counted once the downloads are held (a count every second)
                {
                    break;
                }
                await Task.Delay(1000);
            }
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} downloads held; scrape: {string.Join(", ", metrics!.Split('\n').Where(l => l.StartsWith("jp1dist_conn", StringComparison.Ordinal) || l.StartsWith("process_", StringComparison.Ordinal)))}");
            // The database answered that scrape (targets by status are read from it) while the descriptors ran short.
            Assert.NotNull(metrics);
            Assert.True(Value(metrics!, "jp1dist_connections_shed_total") >= 1, metrics);
            Assert.Equal(limit, Value(metrics!, "process_max_fds"));
            Assert.True(Value(metrics!, "process_open_fds") <= limit - ConnectionBudget.Reserve / 4, metrics); // files stop at half the reserve
            Assert.Contains("jp1dist_targets{", metrics, StringComparison.Ordinal);
            // And a job made now is dispatched by the manager (its scheduler reads and writes the database).
            var folder = Path.Combine(manager.Root, "pkg");
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "setup.sh"), "#!/bin/sh\n");
            await manager.Engine.Packages.CreateAsync(new NewPackageRequest("Tool", "1.0", folder, "setup.sh"));
            await manager.Engine.Jobs.CreateAsync(new NewJobRequest("deploy", "Tool", null, ["pc-fds"]));
            await manager.Engine.Jobs.StartAsync("deploy");
            await Eventually.ForAsync(async () => (await manager.Engine.Jobs.GetStatusAsync(new JobStatusQuery("deploy"))) is { Count: 1 } rows && rows[0].Status == TargetStatus.Queued,
                "the manager dispatches the job", manager.Node);
        }
        finally
        {
            foreach (var socket in downloads)
            {
                socket.Dispose();
            }
        }
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} downloads closed");
        // Once the downloads are gone, content is served again, in full.
        using var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", $"{host.HostId}.{host.Credential}");
        var served = await Eventually.ForAsync<byte[]>(async () =>
        {
            try
            {
                return await client.GetByteArrayAsync(Protocol.ApiPaths.ContentPrefix + sha);
            }
            catch (HttpRequestException)
            {
                return null; // shed or busy until the closed downloads are counted out
            }
        }, "the content once the downloads ended", manager.Node);
        Assert.Equal(bytes, served);
        var log = LogText(Path.Combine(manager.Home, "logs"));
        Assert.Contains("files and sockets are in use", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Too many open files", log, StringComparison.Ordinal);
        Assert.DoesNotContain("unable to open database file", log, StringComparison.Ordinal);
    }

    /// <summary>GET /metrics on a connection held open (keep-alive), the body read by its Content-Length.</summary>
    private static async Task<string> MetricsOnAsync(TcpClient connection)
    {
        var stream = connection.GetStream();
        await stream.WriteAsync("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new List<byte>();
        var buffer = new byte[65536];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                throw new IOException("The manager closed the scrape's connection.");
            }
            received.AddRange(buffer.AsSpan(0, read));
            var text = System.Text.Encoding.ASCII.GetString(received.ToArray());
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0)
            {
                continue;
            }
            Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
            var length = text[..end].Split("\r\n").FirstOrDefault(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            if (length is not null && received.Count - end - 4 >= int.Parse(length["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture))
            {
                return text[(end + 4)..];
            }
            if (length is null && text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
            {
                return text[(end + 4)..]; // chunked: the chunk sizes stay in, which the lines read here do not mind
            }
        }
    }

    private static double Value(string metrics, string name) => metrics.Split('\n')
        .Where(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Select(l => double.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture))
        .DefaultIfEmpty(-1).First();

    private static string LogText(string folder) => !Directory.Exists(folder) ? "" : string.Concat(Directory.GetFiles(folder, "*.log").Select(f =>
    {
        using var reader = new StreamReader(new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        return reader.ReadToEnd();
    }));
}
