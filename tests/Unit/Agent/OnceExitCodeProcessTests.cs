using System.Net;
using System.Net.Sockets;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Tests.Host;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// The scripting contract of `jp1dist agent --once` (<see cref="CommandExitCodes"/>), through the real process against a
/// manager on 127.0.0.1: one code for each way a run ends, and the log line that says why.
/// </summary>
public sealed class OnceExitCodeProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    /// <summary>The code a parent sees: all of it on Windows, its low 8 bits elsewhere (3010 arrives as 194).</summary>
    private static int Seen(int code) => OperatingSystem.IsWindows() ? code : code & 0xFF;

    private string State(string name) => Path.Combine(_h.Folder.Root, "state-" + name);

    /// <summary>Runs `jp1dist agent --once` for <paramref name="name"/> to its end (bounded; killed past it, and the test fails).</summary>
    private async Task<(int ExitCode, string Output)> OnceAsync(string name, string url, params string[] more)
    {
        using var node = NodeProcess.Start(null, ["agent", "--once", "--manager", url, "--name", name, "--state", State(name), .. more]);
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(120));
        var text = await node.OutputAsync();
        output.WriteLine($"--once {name} → {exitCode}\n{text}");
        return (exitCode, text);
    }

    private async Task<string> TokenAsync() => (await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync("once exit codes")).Token!;

    /// <summary>Registers <paramref name="name"/> with a first run (nothing to do yet: 0); returns its token.</summary>
    private async Task<string> RegisteredAsync(string name)
    {
        var token = await TokenAsync();
        Assert.Equal(CommandExitCodes.Success, (await OnceAsync(name, _h.Url, "--token", token)).ExitCode);
        return token;
    }

    /// <summary>A package whose install command is <paramref name="body"/>, and a job of it for <paramref name="host"/>, executed.</summary>
    private async Task JobAsync(string package, string body, string host)
    {
        var folder = Path.Combine(_h.Folder.Root, "package-" + package);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "install.sh"), "#!/bin/sh\n" + body + "\n");
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest(package, "1.0", folder, "install.sh"));
        await _h.ExecuteAsync(new NewJobRequest(package + " install", package, null, [host]));
    }

    /// <summary>Everything the agent's log files hold (the console may differ from them; scripts read the files).</summary>
    private string AgentLog(string name) =>
        string.Join("\n", Directory.GetFiles(Path.Combine(State(name), "logs"), "agent-*.log").Select(f =>
        {
            using var stream = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return new StreamReader(stream).ReadToEnd();
        }));

    [Fact]
    public async Task All_work_done_ends_with_0()
    {
        await RegisteredAsync("pc-done");
        await JobAsync("Tool", "exit 0", "pc-done");

        var run = await OnceAsync("pc-done", _h.Url);

        Assert.Equal(CommandExitCodes.Success, run.ExitCode);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Tool install")).Status);
        Assert.Contains("All work there is now is done; exiting with 0", AgentLog("pc-done"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_install_ends_with_1_over_a_restart_another_needs_and_is_logged_as_a_warning()
    {
        await RegisteredAsync("pc-failed");
        await JobAsync("Broken", "exit 7", "pc-failed");
        await JobAsync("Needy", "exit 3010", "pc-failed");

        var run = await OnceAsync("pc-failed", _h.Url);

        Assert.Equal(CommandExitCodes.Failed, run.ExitCode);
        Assert.Equal(TargetStatus.Failed, (await _h.StatusAsync("Broken install")).Status);
        Assert.Equal(TargetStatus.SucceededRebootRequired, (await _h.StatusAsync("Needy install")).Status);
        var log = AgentLog("pc-failed");
        Assert.Contains("[WRN] JP1Dist.Agent: Job Broken install: ", log, StringComparison.Ordinal);
        Assert.Contains("1 work item(s) failed", log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(3010)]
    [InlineData(1641)]
    public async Task An_installer_reboot_code_ends_with_3010(int installerCode)
    {
        var name = "pc-reboot-" + installerCode;
        await RegisteredAsync(name);
        await JobAsync("Driver" + installerCode, $"exit {installerCode}", name);

        var run = await OnceAsync(name, _h.Url);

        Assert.Equal(Seen(CommandExitCodes.RebootRequired), run.ExitCode);
        Assert.Equal(TargetStatus.SucceededRebootRequired, (await _h.StatusAsync($"Driver{installerCode} install")).Status);
        Assert.Contains("needs a restart of this computer", AgentLog(name), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_higher_system_nobody_listens_on_ends_with_75_naming_it()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var run = await OnceAsync("pc-nobody", $"http://127.0.0.1:{port}", "--token", await TokenAsync());

        Assert.Equal(CommandExitCodes.Unavailable, run.ExitCode);
        Assert.Contains($"[ERR] JP1Dist.Agent: The run stopped at the higher system http://127.0.0.1:{port} (", AgentLog("pc-nobody"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_higher_system_that_accepts_and_never_answers_ends_with_75_saying_what_it_did_not_answer()
    {
        using var silent = new SilentListener();
        var url = $"http://127.0.0.1:{silent.Port}";

        // Registering: the first request goes unanswered.
        var first = await OnceAsync("pc-silent", url, "--token", await TokenAsync(), "--once-timeout", "2");
        Assert.Equal(CommandExitCodes.Unavailable, first.ExitCode);
        Assert.Contains($"The higher system {url} did not answer {ApiPaths.Register} within 2 s", AgentLog("pc-silent"), StringComparison.Ordinal);

        // Registered already: the request for work (or the facts) goes unanswered, the same way.
        await RegisteredAsync("pc-silent-later");
        var later = await OnceAsync("pc-silent-later", url, "--once-timeout", "2");
        Assert.Equal(CommandExitCodes.Unavailable, later.ExitCode);
        Assert.Contains($"[ERR] JP1Dist.Agent: The run stopped at the higher system {url} (The higher system {url} did not answer /api/", AgentLog("pc-silent-later"), StringComparison.Ordinal);
        Assert.True(silent.Accepted >= 2);
    }

    [Fact]
    public async Task A_refused_token_ends_with_4_and_a_revoked_credential_with_3()
    {
        var refused = await OnceAsync("pc-refused", _h.Url, "--token", "no-such-token-secret");
        Assert.Equal(CommandExitCodes.EnrollmentRefused, refused.ExitCode);
        Assert.Contains("[FTL] JP1Dist.Agent: The higher system", AgentLog("pc-refused"), StringComparison.Ordinal);
        Assert.Contains("refused to register 'pc-refused'", AgentLog("pc-refused"), StringComparison.Ordinal);

        var token = await RegisteredAsync("pc-revoked");
        await _h.Folder.Engine.Hosts.RemoveAsync("pc-revoked", force: true, revoke: true);
        var revoked = await OnceAsync("pc-revoked", _h.Url, "--token", token);
        Assert.Equal(CommandExitCodes.CredentialRevoked, revoked.ExitCode);
        Assert.Contains("as revoked", AgentLog("pc-revoked"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--no-such-option")]
    [InlineData("--once-timeout 0")]
    [InlineData("--once-timeout many")]
    [InlineData("--reboot-grace-seconds -1")]
    public async Task A_usage_error_ends_with_2_naming_what_was_wrong(string bad)
    {
        var arguments = bad.Split(' ');
        var run = await OnceAsync("pc-usage", _h.Url, arguments);
        Assert.Equal(CommandExitCodes.Usage, run.ExitCode);
        Assert.Contains(arguments[0], run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_errors_beyond_single_options_end_with_2()
    {
        // --once-timeout belongs to --once.
        using (var service = NodeProcess.Start(null, "agent", "--manager", _h.Url, "--name", "pc-usage", "--state", State("pc-usage"), "--once-timeout", "5"))
        {
            Assert.Equal(CommandExitCodes.Usage, await service.WaitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("--once-timeout needs --once", await service.OutputAsync(), StringComparison.Ordinal);
        }
        // No --manager at all.
        using (var bare = NodeProcess.Start(null, "agent", "--once"))
        {
            Assert.Equal(CommandExitCodes.Usage, await bare.WaitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("--manager", await bare.OutputAsync(), StringComparison.Ordinal);
        }
        // Not registered, and no token to register with: nothing was sent.
        var untokened = await OnceAsync("pc-untokened", _h.Url);
        Assert.Equal(CommandExitCodes.Usage, untokened.ExitCode);
        Assert.Contains("has no enrollment token", untokened.Output, StringComparison.Ordinal);
    }

    /// <summary>A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte; closes them all when disposed.</summary>
    private sealed class SilentListener : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _held = [];
        private readonly Task _accepting;

        public SilentListener()
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accepting = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var socket = await _listener.AcceptSocketAsync();
                        lock (_held)
                        {
                            _held.Add(socket);
                        }
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // Stopped.
                }
            });
        }

        public int Port { get; }

        public int Accepted
        {
            get
            {
                lock (_held)
                {
                    return _held.Count;
                }
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _accepting.Wait(TimeSpan.FromSeconds(10));
            lock (_held)
            {
                foreach (var socket in _held)
                {
                    socket.Dispose();
                }
            }
        }
    }
}
