using System.Diagnostics;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// SIGTERM (what systemd and `kill` send) stops a manager, a relay and an agent cleanly: exit code 0, the manager signs
/// off. None of them watches its working directory or data folder for configuration files meanwhile.
/// </summary>
public sealed class NodeShutdownTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-shutdown-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public async Task Sigterm_stops_the_manager_a_relay_and_an_agent_cleanly()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Windows has no SIGTERM; its service stop goes through the same host shutdown.
        }
        var home = Path.Combine(_root, "home");
        var engine = TestDatabase.Engine(home);
        var token = await engine.Hosts.NewEnrollmentTokenAsync("shutdown test");
        var relayToken = await engine.Hosts.NewEnrollmentTokenAsync(new JP1Dist.Contracts.NewEnrollmentTokenRequest("shutdown test relay", Relay: true));

        using var manager = Start("manager", "--listen", "http://127.0.0.1:0", "--home", home);
        var url = await Eventually.ForAsync(async () => (await engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == manager.Process.Id && m.IsAlive)?.Url, "the manager announced itself");
        using var agent = Start("agent", "--manager", url, "--token", token.Token!, "--name", "pc-term", "--state", Path.Combine(_root, "agent"));
        await Eventually.ForAsync(async () => (await engine.Hosts.ListAsync("pc-term")).Count == 1, "pc-term registered");
        using var relay = Start("relay", "--manager", url, "--token", relayToken.Token!, "--listen", "http://127.0.0.1:0", "--name", "relay-term", "--state", Path.Combine(_root, "relay"));
        await Eventually.ForAsync(async () => (await engine.Hosts.ListAsync("relay-term")).Count == 1, "relay-term registered");

        // A service's working directory may be / (systemd) or System32: watching it for appsettings.json would mean
        // an inotify watch on every folder below it, and a node's data folder changes with every write.
        Assert.Equal([0, 0, 0], new[] { manager, agent, relay }.Select(n => InotifyInstances(n.Process.Id)).ToArray());

        Assert.Equal(0, await TerminateAsync(relay));
        Assert.Equal(0, await TerminateAsync(agent));
        Assert.Equal(0, await TerminateAsync(manager));
        Assert.Empty(await engine.Managers.ListAsync()); // signed off, so status says at once that none runs
    }

    private sealed class Node(Process process) : IDisposable
    {
        public Process Process { get; } = process;
        public Task<string> Output { get; } = process.StandardOutput.ReadToEndAsync();
        public Task<string> Errors { get; } = process.StandardError.ReadToEndAsync();

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
            }
            Process.Dispose();
        }
    }

    /// <summary>The inotify instances a process holds (Linux: its descriptors that are inotify handles).</summary>
    private static int InotifyInstances(int processId) =>
        !OperatingSystem.IsLinux() ? 0 : new DirectoryInfo($"/proc/{processId}/fd").GetFileSystemInfos()
            .Count(fd => string.Equals(fd.LinkTarget, "anon_inode:inotify", StringComparison.Ordinal));

    private static Node Start(params string[] arguments)
    {
        var exe = Path.Combine(Repository.Root, "out", "jp1dist", "jp1dist");
        var start = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return new Node(Process.Start(start)!);
    }

    private async Task<int> TerminateAsync(Node node)
    {
        using (var kill = Process.Start("kill", ["-TERM", node.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await node.Process.WaitForExitAsync(timeout.Token);
        output.WriteLine(await node.Output);
        output.WriteLine(await node.Errors);
        return node.Process.ExitCode;
    }

    public void Dispose()
    {
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
