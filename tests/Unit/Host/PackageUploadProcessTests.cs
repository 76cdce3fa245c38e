using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using JP1Dist.Contracts;
using JP1Dist.Core;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// New-DistPackage in a session connected to a real HTTPS manager uploads the files: through a loopback proxy that cuts
/// every connection at chosen points, the upload goes on from where the manager says it is (not from the start); a session
/// killed in the middle is continued by running it again; refused uploads leave neither package nor content.
/// </summary>
public sealed class PackageUploadProcessTests(HttpsManagerFixture manager, ITestOutputHelper output) : IClassFixture<HttpsManagerFixture>, IDisposable
{
    private const int Megabyte = 1024 * 1024;
    private readonly List<IDisposable> _cleanup = [];

    private DistEngine Engine => manager.Engine;

    private string Uploads => Path.Combine(manager.Root, "home", "uploads");

    [Fact]
    public async Task An_upload_cut_off_twice_goes_on_from_where_it_was_cut()
    {
        var (folder, sha) = MakePackage("cut", 20 * Megabyte);
        var proxy = Proxy();
        proxy.CutAt(6 * Megabyte, 14 * Megabyte);
        var key = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("uploader-cut", DistRole.Administrator));

        var (exitCode, text) = await RunAsync(key.Key!, proxy, Script("Cut", folder));

        Assert.True(exitCode == 0, text);
        Assert.Equal(2, proxy.Cuts);
        await AssertRegisteredAsync("Cut", sha);
        // Sent again only what was in flight at each cut (at most a piece each), not the file from its start.
        Assert.InRange(proxy.Upstream, 20 * Megabyte, 20 * Megabyte + 2 * PackageUploadProtocol.ChunkBytes + Megabyte);
    }

    [Fact]
    public async Task A_session_killed_in_the_middle_of_an_upload_is_continued_by_running_it_again()
    {
        var (folder, sha) = MakePackage("killed", 20 * Megabyte);
        var proxy = Proxy();
        proxy.BytesPerSecond = 2 * Megabyte;
        var key = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("uploader-killed", DistRole.Administrator));
        var script = Script("Killed", folder);

        long arrived;
        using (var first = Start(key.Key!, proxy, script))
        {
            arrived = await WaitForPartAsync(4 * Megabyte, first);
            first.Process.Kill(entireProcessTree: true);
            await first.Process.WaitForExitAsync();
            output.WriteLine(await first.OutputAsync());
        }
        Assert.InRange(arrived, 4 * Megabyte, 20 * Megabyte - 1);

        Assert.Empty(await Engine.Packages.ListAsync("Killed"));

        // A proxy of its own for the second run: what the first left in the slow proxy's buffers does not count.
        proxy.Dispose();
        proxy = Proxy();
        var (exitCode, text) = await RunAsync(key.Key!, proxy, script);
        Assert.True(exitCode == 0, text);
        await AssertRegisteredAsync("Killed", sha);
        // The manager keeps at least what it held when the session died (a piece it had whole is written even so).
        Assert.InRange(proxy.Upstream, 1, 20 * Megabyte - arrived + Megabyte);
    }

    [Fact]
    public async Task Refused_uploads_leave_neither_a_package_nor_content()
    {
        var (folder, _) = MakePackage("refused", 3 * Megabyte);
        var proxy = Proxy();
        var operatorKey = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("uploader-operator", DistRole.Operator));
        var adminKey = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("uploader-refused", DistRole.Administrator));
        var contentBefore = ContentFiles();

        var (exitCode, text) = await RunAsync(operatorKey.Key!, proxy, Script("Refused", folder));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("PermissionDenied", text, StringComparison.Ordinal);

        var (created, _) = await RunAsync(adminKey.Key!, proxy, Script("Refused", folder));
        Assert.Equal(0, created);
        contentBefore = ContentFiles();
        (exitCode, text) = await RunAsync(adminKey.Key!, proxy, Script("Refused", folder, installCommand: "bin/missing.sh", version: "2.0"));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("InstallCommandNotFound", text, StringComparison.Ordinal);
        (exitCode, text) = await RunAsync(adminKey.Key!, proxy, Script("Refused", folder));
        Assert.NotEqual(0, exitCode);
        Assert.Contains("PackageAlreadyExists", text, StringComparison.Ordinal);

        Assert.Single(await Engine.Packages.ListAsync("Refused"));
        Assert.Equal(contentBefore, ContentFiles());
        Assert.False(Directory.Exists(Uploads) && Directory.EnumerateFileSystemEntries(Uploads).Any());
        // Refused before any byte of the upload: the operator's attempt is recorded as Denied.
        var denied = Assert.Single(await Engine.Audit.ListAsync(new AuditQuery(Principal: "uploader-operator")));
        Assert.Equal(("New-DistPackage", AuditOutcome.Denied), (denied.Operation, denied.Outcome));
    }

    private async Task AssertRegisteredAsync(string name, string sha)
    {
        var package = Assert.Single(await Engine.Packages.ListAsync(name));
        Assert.Equal(2, package.FileCount);
        Assert.True(Engine.Content.Contains(sha), "the uploaded file is in the content store");
        await using (var stored = File.OpenRead(Engine.Content.PathOf(sha)))
        {
            Assert.Equal(sha, Convert.ToHexStringLower(await SHA256.HashDataAsync(stored)));
        }
        Assert.False(Directory.Exists(Uploads) && Directory.EnumerateFileSystemEntries(Uploads).Any(), "the finished upload is gone");
        var entry = Assert.Single(await Engine.Audit.ListAsync(new AuditQuery(Operation: "New-DistPackage", Target: $"{name}@1.0")));
        Assert.StartsWith("uploader-", entry.Principal, StringComparison.Ordinal);
    }

    private (string Folder, string Sha) MakePackage(string name, int size)
    {
        var folder = Path.Combine(manager.Root, "upload-" + name);
        Directory.CreateDirectory(folder);
        var payload = RandomNumberGenerator.GetBytes(size);
        File.WriteAllBytes(Path.Combine(folder, "payload.bin"), payload);
        File.WriteAllText(Path.Combine(folder, "install.sh"), "#!/bin/sh\nexit 0\n");
        return (folder, Convert.ToHexStringLower(SHA256.HashData(payload)));
    }

    private string Script(string name, string folder, string installCommand = "install.sh", string version = "1.0")
    {
        var script = Path.Combine(manager.Root, $"upload-{name}-{Guid.NewGuid():N}.ps1");
        File.WriteAllText(script, $$"""
            $ErrorActionPreference = 'Stop'
            try {
                $package = New-DistPackage -Name {{name}} -Version {{version}} -Path '{{folder}}' -InstallCommand {{installCommand}}
                "registered $($package.Name) $($package.TotalBytes)"
            } catch {
                "refused $($_.FullyQualifiedErrorId): $($_.Exception.Message)"
                exit 1
            }
            """);
        return script;
    }

    private CuttingProxy Proxy()
    {
        var proxy = new CuttingProxy(new Uri(manager.Url).Port);
        _cleanup.Add(proxy);
        return proxy;
    }

    private NodeProcess Start(string key, CuttingProxy proxy, string script)
    {
        var home = Path.Combine(manager.Root, "session-home-" + Guid.NewGuid().ToString("N")[..6]); // the session's own data folder: never used
        Directory.CreateDirectory(home);
        return NodeProcess.Start(new Dictionary<string, string?>
        {
            ["JP1DIST_HOME"] = home,
            ["JP1DIST_MANAGER_URI"] = $"https://127.0.0.1:{proxy.Port}",
            ["JP1DIST_ACCESS_KEY"] = key,
            ["JP1DIST_CERTIFICATE_PIN"] = manager.Pin,
        }, "run", script);
    }

    private async Task<(int ExitCode, string Output)> RunAsync(string key, CuttingProxy proxy, string script)
    {
        using var node = Start(key, proxy, script);
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(300));
        var text = await node.OutputAsync();
        output.WriteLine($"upload → {exitCode} ({proxy.Upstream} bytes up, {proxy.Cuts} cuts)\n{text}");
        return (exitCode, text);
    }

    /// <summary>Waits (bounded) until the manager holds at least <paramref name="bytes"/> of the upload's file; how many it holds.</summary>
    private async Task<long> WaitForPartAsync(long bytes, NodeProcess session)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(120); DateTime.UtcNow < deadline && !session.Process.HasExited; await Task.Delay(50))
        {
            if (PartLength() is var length && length >= bytes)
            {
                return length;
            }
        }
        throw new TimeoutException($"The upload did not reach {bytes} bytes: {(session.Process.HasExited ? await session.OutputAsync() : "still running")}");
    }

    private long PartLength() => Directory.Exists(Uploads)
        ? Directory.EnumerateFiles(Uploads, "*.part", SearchOption.AllDirectories).Select(f => new FileInfo(f).Length).DefaultIfEmpty(0).Max() : 0;

    private List<string> ContentFiles() => Directory.EnumerateFiles(Engine.Content.Root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

    public void Dispose()
    {
        foreach (var item in _cleanup)
        {
            item.Dispose();
        }
    }
}

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a port: forwards both ways, counts the bytes it forwarded upstream, may hold them to
/// a rate, and resets every connection it holds when the upstream count reaches each of the points given to it.
/// </summary>
internal sealed class CuttingProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _open = [];
    private readonly Queue<long> _cutPoints = new();
    private long _upstream;
    private int _cuts;

    public CuttingProxy(int target)
    {
        _target = target;
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Bytes forwarded from clients to the target.</summary>
    public long Upstream => Interlocked.Read(ref _upstream);

    /// <summary>How many times every connection was reset.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    /// <summary>Upstream bytes per second at most; 0: no limit.</summary>
    public int BytesPerSecond { get; set; }

    public void CutAt(params long[] points)
    {
        lock (_cutPoints)
        {
            foreach (var point in points)
            {
                _cutPoints.Enqueue(point);
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            }
            catch (Exception)
            {
                Reset(client);
                server.Dispose();
                continue;
            }
            lock (_open)
            {
                _open.Add(client);
                _open.Add(server);
            }
            _ = PumpAsync(client, server, upstream: true);
            _ = PumpAsync(server, client, upstream: false);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool upstream)
    {
        var buffer = new byte[64 * 1024];
        var started = DateTime.UtcNow;
        long sent = 0;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                if (upstream)
                {
                    var total = Interlocked.Add(ref _upstream, read);
                    if (DueCut(total))
                    {
                        CutAll();
                        return;
                    }
                    sent += read;
                    if (BytesPerSecond > 0 && TimeSpan.FromSeconds((double)sent / BytesPerSecond) - (DateTime.UtcNow - started) is { Ticks: > 0 } ahead)
                    {
                        await Task.Delay(ahead, _stop.Token);
                    }
                }
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception)
        {
            Reset(from);
            Reset(to);
        }
    }

    private bool DueCut(long total)
    {
        lock (_cutPoints)
        {
            if (_cutPoints.Count > 0 && total >= _cutPoints.Peek())
            {
                _cutPoints.Dequeue();
                Interlocked.Increment(ref _cuts);
                return true;
            }
            return false;
        }
    }

    private void CutAll()
    {
        List<Socket> open;
        lock (_open)
        {
            open = [.. _open];
            _open.Clear();
        }
        foreach (var socket in open)
        {
            Reset(socket);
        }
    }

    /// <summary>Closes with a reset (linger 0), as a network that drops the connection would leave it.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception)
        {
            // Already closed.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        CutAll();
    }
}
