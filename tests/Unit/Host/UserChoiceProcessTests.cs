using System.Globalization;
using System.Security.Cryptography;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Protocol;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// User-choice jobs through real processes: a real manager, an agent registered with `jp1dist agent --once`, a UserChoice
/// job executed; the agent's next run makes it Available at the manager and installs nothing; `jp1dist available` lists
/// it, `jp1dist install NAME` (no agent running: it does the work itself with the agent's state) installs it once and the
/// manager shows Succeeded; a failing install exits non-zero with the command's code and the manager shows Failed; with
/// the agent running, the commands ask it over its owner-only socket instead.
/// </summary>
public sealed class UserChoiceProcessTests(HttpsManagerFixture manager, ITestOutputHelper output) : IClassFixture<HttpsManagerFixture>
{
    private const string HostName = "pc-choice";

    private DistEngine Engine => manager.Engine;

    private string State => StateOf(HostName);

    private string StateOf(string host) => Path.Combine(manager.Root, "agent-" + host);

    [Fact]
    public async Task A_user_choice_package_is_available_then_listed_and_installed_by_the_user_once()
    {
        var log = Path.Combine(manager.Root, "choice-installed.log");
        await RegisteredAsync();
        await OfferedAsync("choice-app", "Choice", "exit 0", log, "A tool the user may want");
        var ran = await RunAsync("agent", "--manager", manager.Url, "--name", HostName, "--state", State, "--once");
        Assert.True(ran.ExitCode == 0, ran.Output);
        Assert.Equal(TargetStatus.Available, (await StatusAsync("Choice")).Status);
        Assert.False(File.Exists(log), "nothing is installed before the user chooses");

        var listed = await RunAsync("available", "--state", State);
        Assert.True(listed.ExitCode == 0, listed.Output);
        var line = Assert.Single(listed.Output.Split('\n'), l => l.StartsWith("choice-app", StringComparison.Ordinal));
        Assert.Contains("1.0", line, StringComparison.Ordinal);
        Assert.Contains("No", line, StringComparison.Ordinal);
        Assert.Contains("A tool the user may want", line, StringComparison.Ordinal);

        var unknown = await RunAsync("install", "no-such-app", "--state", State);
        Assert.True(unknown.ExitCode == 2, unknown.Output);
        Assert.Contains("'no-such-app' is not available", unknown.Output, StringComparison.Ordinal);
        Assert.Contains("choice-app 1.0", unknown.Output, StringComparison.Ordinal);

        var installed = await RunAsync("install", "choice-app", "--state", State);
        Assert.True(installed.ExitCode == 0, installed.Output);
        Assert.Contains("Succeeded (exit code 0)", installed.Output, StringComparison.Ordinal);
        Assert.Equal([$"{HostName} choice-app"], File.ReadAllLines(log));
        var status = await StatusAsync("Choice");
        Assert.Equal((TargetStatus.Succeeded, 0), (status.Status, status.ExitCode));

        // Asked again, and after the agent's next run: installed, nothing runs again.
        var again = await RunAsync("install", "choice-app", "--state", State);
        Assert.True(again.ExitCode == 0, again.Output);
        Assert.Contains("installed already", again.Output, StringComparison.Ordinal);
        Assert.True((await RunAsync("agent", "--manager", manager.Url, "--name", HostName, "--state", State, "--once")).ExitCode == 0);
        Assert.Single(File.ReadAllLines(log));
        var listedAfter = await RunAsync("available", "--state", State);
        Assert.DoesNotContain("choice-app", listedAfter.Output, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync("Choice")).Status);
    }

    [Fact]
    public async Task A_failing_user_install_exits_non_zero_with_the_command_code_and_the_manager_shows_failed()
    {
        var log = Path.Combine(manager.Root, "choice-failing.log");
        await RegisteredAsync();
        await OfferedAsync("choice-broken", "Broken", "exit 3", log, null);
        Assert.True((await RunAsync("agent", "--manager", manager.Url, "--name", HostName, "--state", State, "--once")).ExitCode == 0);
        Assert.Equal(TargetStatus.Available, (await StatusAsync("Broken")).Status);

        var installed = await RunAsync("install", "choice-broken", "--version", "1.0", "--state", State);
        Assert.True(installed.ExitCode == 1, installed.Output);
        Assert.Contains("Failed (exit code 3)", installed.Output, StringComparison.Ordinal);
        Assert.Single(File.ReadAllLines(log));
        var status = await StatusAsync("Broken");
        Assert.Equal((TargetStatus.Failed, 3), (status.Status, status.ExitCode));
    }

    [Fact]
    public async Task A_running_agent_installs_for_its_user_through_its_owner_only_socket_once()
    {
        const string host = "pc-running";
        var log = Path.Combine(manager.Root, "choice-beside.log");
        await RegisteredAsync(host);
        using var agent = NodeProcess.Start(null, "agent", "--manager", manager.Url, "--name", host, "--state", StateOf(host));
        await OfferedAsync("choice-beside", "Beside", "exit 0", log, null, host);
        await Eventually.ForAsync(async () => (await StatusAsync("Beside", host)).Status == TargetStatus.Available, "the running agent offers the package");

        // The commands talk to the running agent over its owner-only socket in the state folder (not on Windows yet: there
        // they do the work themselves, and the ticket's claim keeps the agent from acting on it at the same time).
        var socket = Path.Combine(StateOf(host), "agent.sock");
        if (!OperatingSystem.IsWindows())
        {
            Assert.True(File.Exists(socket));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));
        }
        var listed = await RunAsync("available", "--state", StateOf(host));
        Assert.Contains("choice-beside", listed.Output, StringComparison.Ordinal);
        await AnotherUserIsRefusedAsync(socket);
        if (!OperatingSystem.IsWindows())
        {
            // A request longer than the channel reads is refused, and the agent goes on serving.
            using var raw = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            await raw.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket));
            await using var stream = new System.Net.Sockets.NetworkStream(raw);
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(new string('x', JP1Dist.Protocol.LocalChannelClient.MaxRequestBytes + 10) + "\n"));
            var answer = await JP1Dist.Protocol.LocalChannelClient.ReadLineAsync(stream, 65536, "the answer", CancellationToken.None);
            Assert.Contains("longer than", answer, StringComparison.Ordinal);
        }
        var refused = await RunAsync("install", "no-such-app", "--state", StateOf(host));
        Assert.True(refused.ExitCode == 2, refused.Output);
        Assert.Contains("'no-such-app' is not available", refused.Output, StringComparison.Ordinal);

        var installed = await RunAsync("install", "choice-beside", "--state", StateOf(host));
        Assert.True(installed.ExitCode == 0, installed.Output);
        Assert.Contains(OperatingSystem.IsWindows() ? "Succeeded (exit code 0)" : "Succeeded (exit code 0) (installed by the running agent)", installed.Output, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync("Beside", host)).Status);
        var agentOutput = await agent.StopAsync();
        output.WriteLine(agentOutput);
        Assert.Equal([$"{host} choice-beside"], File.ReadAllLines(log));
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync("Beside", host)).Status);
        Assert.False(File.Exists(socket), "a stopped agent removes its socket");
    }

    [Fact]
    public async Task Without_a_running_agent_the_users_install_fails_over_to_the_stand_in_the_agent_was_started_with()
    {
        const string host = "pc-failover";
        var log = Path.Combine(manager.Root, "choice-failover.log");
        var real = new Uri(manager.Url);
        using (var proxy = new CuttingProxy(real.Port))
        {
            // The agent registers through a first address (a forwarder) with the manager's own address as its stand-in.
            var first = $"{real.Scheme}://127.0.0.1:{proxy.Port}/";
            var token = Path.Combine(manager.Root, host + ".token");
            File.WriteAllText(token, await manager.NewTokenTextAsync() + "\n");
            var registered = await RunAsync("agent", "--manager", $"{first},{manager.Url}", "--token-file", token, "--name", host, "--state", StateOf(host), "--once");
            Assert.True(registered.ExitCode == 0, registered.Output);
            await OfferedAsync("choice-failover", "Failover", "exit 0", log, null, host);
            Assert.True((await RunAsync("agent", "--manager", $"{first},{manager.Url}", "--name", host, "--state", StateOf(host), "--once")).ExitCode == 0);
            Assert.Equal(TargetStatus.Available, (await StatusAsync("Failover", host)).Status);
        }
        // The first address is gone; no agent runs: the user's install finds the manager at the stand-in.
        var installed = await RunAsync("install", "choice-failover", "--state", StateOf(host));
        Assert.True(installed.ExitCode == 0, installed.Output);
        Assert.Equal([$"{host} choice-failover"], File.ReadAllLines(log));
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync("Failover", host)).Status);
    }

    /// <summary>
    /// Another account of this computer cannot connect to the agent's socket: run as root, the test connects as `nobody`
    /// (through runuser and perl's socket calls, both in the base system) and the kernel refuses it. The channel has no
    /// network address at all, so nothing else on the network can reach it either.
    /// </summary>
    private async Task AnotherUserIsRefusedAsync(string socket)
    {
        if (OperatingSystem.IsWindows() || Environment.UserName != "root" || !File.Exists("/usr/sbin/runuser") || !File.Exists("/usr/bin/perl"))
        {
            output.WriteLine("Another user's connection is checked only when the tests run as root with runuser and perl.");
            return;
        }
        const string connect = "use Socket; socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die \"socket: $!\\n\"; "
            + "if (connect($s, pack_sockaddr_un($ARGV[0]))) { print \"connected\\n\"; exit 0 } print \"refused: $!\\n\"; exit 3";
        var start = new System.Diagnostics.ProcessStartInfo("/usr/sbin/runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-u", "nobody", "--", "/usr/bin/perl", "-e", connect, socket })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var text = await process.StandardOutput.ReadToEndAsync(timeout.Token) + await process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        output.WriteLine($"connect as nobody → {process.ExitCode}: {text}");
        Assert.True(process.ExitCode == 3, text);
        Assert.Contains("Permission denied", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pre_download_offer_is_staged_before_the_user_installs_and_the_install_fetches_nothing_more()
    {
        const string host = "pc-ahead";
        var log = Path.Combine(manager.Root, "choice-ahead.log");
        await RegisteredAsync(host);
        await OfferedAsync("choice-ahead", "Ahead", "exit 0", log, null, host, preDownload: true);
        Assert.True((await Engine.Jobs.ListAsync("Ahead")).Single().PreDownload);
        var before = await ContentBytesServedAsync();
        var ran = await RunAsync("agent", "--manager", manager.Url, "--name", host, "--state", StateOf(host), "--once");
        Assert.True(ran.ExitCode == 0, ran.Output);
        var status = await StatusAsync("Ahead", host);
        Assert.Equal(TargetStatus.Available, status.Status);
        Assert.False(File.Exists(log), "nothing is installed before the user chooses");
        var staged = await ContentBytesServedAsync();
        Assert.True(staged - before >= 200_000, $"the content was sent ahead ({staged - before} bytes)");
        var payload = Directory.GetFiles(StateOf(host), "payload.bin", SearchOption.AllDirectories);
        Assert.Equal(200_000, new FileInfo(Assert.Single(payload)).Length);
        Assert.Contains("choice-ahead", (await RunAsync("available", "--state", StateOf(host))).Output, StringComparison.Ordinal);

        var installed = await RunAsync("install", "choice-ahead", "--state", StateOf(host));
        Assert.True(installed.ExitCode == 0, installed.Output);
        Assert.Equal([$"{host} choice-ahead"], File.ReadAllLines(log));
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync("Ahead", host)).Status);
        Assert.Equal(staged, await ContentBytesServedAsync()); // the install used the staged copy: no byte was sent again
    }

    [Fact]
    public async Task A_removed_jobs_offer_leaves_jp1dist_available_at_the_agents_next_poll_with_its_staged_copy()
    {
        const string host = "pc-withdrawn";
        var log = Path.Combine(manager.Root, "choice-withdrawn.log");
        await RegisteredAsync(host);
        await OfferedAsync("choice-withdrawn", "Withdrawn", "exit 0", log, null, host, preDownload: true);
        Assert.True((await RunAsync("agent", "--manager", manager.Url, "--name", host, "--state", StateOf(host), "--once")).ExitCode == 0);
        Assert.Equal(TargetStatus.Available, (await StatusAsync("Withdrawn", host)).Status);
        Assert.Contains("choice-withdrawn", (await RunAsync("available", "--state", StateOf(host))).Output, StringComparison.Ordinal);
        Assert.NotEmpty(Directory.GetFiles(StateOf(host), "payload.bin", SearchOption.AllDirectories));

        // An open offer only waits for its user: no -Force. The user never tries to install it.
        await Engine.Jobs.RemoveAsync("Withdrawn", force: false);
        var polled = await RunAsync("agent", "--manager", manager.Url, "--name", host, "--state", StateOf(host), "--once");
        Assert.True(polled.ExitCode == 0, polled.Output);
        Assert.Contains("withdrawn", polled.Output, StringComparison.Ordinal);
        var listed = await RunAsync("available", "--state", StateOf(host));
        Assert.True(listed.ExitCode == 0, listed.Output);
        Assert.DoesNotContain("choice-withdrawn", listed.Output, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(StateOf(host), "payload.bin", SearchOption.AllDirectories));
        Assert.False(File.Exists(log));
    }

    [Fact]
    public async Task An_install_the_user_started_is_not_withdrawn_when_its_job_is_removed()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the package's install script is a shell script
        }
        const string host = "pc-midway";
        var log = Path.Combine(manager.Root, "choice-midway.log");
        var gate = log + ".gate";
        await RegisteredAsync(host);
        // The install logs, then waits for the gate (bounded: a minute at most).
        await OfferedAsync("choice-midway", "Midway", "i=0\nwhile [ ! -f \"$1.gate\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nexit 0", log, null, host);
        Assert.True((await RunAsync("agent", "--manager", manager.Url, "--name", host, "--state", StateOf(host), "--once")).ExitCode == 0);
        Assert.Equal(TargetStatus.Available, (await StatusAsync("Midway", host)).Status);

        using var install = NodeProcess.Start(null, "install", "choice-midway", "--state", StateOf(host));
        try
        {
            await Eventually.ForAsync(async () => File.Exists(log) && (await StatusAsync("Midway", host)).Status == TargetStatus.Installing, "the user's install runs", install);
            var active = await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.RemoveAsync("Midway", force: false));
            Assert.Equal("JobActive", active.ErrorId); // an install under way still needs -Force
            await Engine.Jobs.RemoveAsync("Midway", force: true);
            var polled = await RunAsync("agent", "--manager", manager.Url, "--name", host, "--state", StateOf(host), "--once");
            Assert.True(polled.ExitCode == 0, polled.Output);
            Assert.DoesNotContain("withdrawn", polled.Output, StringComparison.Ordinal);
        }
        finally
        {
            File.WriteAllText(gate, "");
        }
        var exitCode = await install.WaitAsync(TimeSpan.FromSeconds(120));
        var text = await install.OutputAsync();
        output.WriteLine(text);
        Assert.True(exitCode == 0, text);
        Assert.Contains("Succeeded (exit code 0)", text, StringComparison.Ordinal);
        Assert.Equal([$"{host} choice-midway"], File.ReadAllLines(log));
    }

    /// <summary>The manager's count of package content bytes sent (GET /metrics over its pinned HTTPS).</summary>
    private async Task<double> ContentBytesServedAsync()
    {
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null
                && Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo())) == manager.Pin,
        };
        using var client = new HttpClient(handler) { BaseAddress = new Uri(manager.Url), Timeout = TimeSpan.FromSeconds(30) };
        var text = await client.GetStringAsync("/metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("jp1dist_content_bytes_served_total ", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
    }

    /// <summary>The host, registered once per class by a real agent run.</summary>
    private async Task RegisteredAsync(string host = HostName)
    {
        if ((await Engine.Hosts.ListAsync(new HostQuery(host))).Count == 0)
        {
            var token = Path.Combine(manager.Root, host + ".token");
            File.WriteAllText(token, await manager.NewTokenTextAsync() + "\n");
            var registered = await RunAsync("agent", "--manager", manager.Url, "--token-file", token, "--name", host, "--state", StateOf(host), "--once");
            Assert.True(registered.ExitCode == 0, registered.Output);
        }
    }

    /// <summary>A package whose script logs its install then ends with <paramref name="ending"/>, offered to the host by an executed UserChoice job.</summary>
    private async Task OfferedAsync(string package, string job, string ending, string log, string? description, string host = HostName, bool preDownload = false)
    {
        var folder = Path.Combine(manager.Root, "package-" + package);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "install.sh"), $"#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n{ending}\n");
        File.WriteAllBytes(Path.Combine(folder, "payload.bin"), new byte[200_000]);
        await Engine.Packages.CreateAsync(new NewPackageRequest(package, "1.0", folder, "install.sh", [log], Description: description, SegmentSize: 65536), null);
        await Engine.Jobs.CreateAsync(new NewJobRequest(job, package, null, [host], JobType.UserChoice, PreDownload: preDownload));
        await Engine.Jobs.StartAsync(job);
        await Eventually.ForAsync(async () => (await StatusAsync(job, host)).Status is TargetStatus.Queued or TargetStatus.Available, $"job '{job}' dispatched");
    }

    private async Task<DistJobStatus> StatusAsync(string job, string host = HostName) => (await Engine.Jobs.GetStatusAsync(new JobStatusQuery(job, host))).Single();

    private async Task<(int ExitCode, string Output)> RunAsync(params string[] arguments)
    {
        using var node = NodeProcess.Start(null, arguments);
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(300));
        var text = await node.OutputAsync();
        output.WriteLine($"jp1dist {string.Join(' ', arguments)} → {exitCode}\n{text}");
        return (exitCode, text);
    }
}
