using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Tests.Host;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// Reboot and retry exit codes: the one rule (<see cref="ExitCodes"/>) and its 8-bit reading on Linux and macOS, a real
/// `jp1dist agent --once` that ends with the reboot code, and an install busy elsewhere (1618) queued again by the
/// manager until it installs, or until its attempts run out.
/// </summary>
public sealed class ExitCodeTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync()
    {
        _h = await AgentHarness.StartAsync();
        _h.Distribution.RetryLaterDelay = TimeSpan.Zero;
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static PackageManifest Manifest(IReadOnlyList<int> success, IReadOnlyList<int>? reboot = null, IReadOnlyList<int>? retry = null) =>
        new("App", "1.0", 4096, [], "setup", [], success, 60, RebootExitCodes: reboot, RetryExitCodes: retry);

    [Fact]
    public void Exit_codes_read_through_the_package_lists_and_8_bits_where_the_system_has_only_those()
    {
        var manifest = Manifest([0]);
        Assert.Equal(ExitCodeMeaning.Success, ExitCodes.Read(manifest, 0, eightBit: true).Meaning);
        Assert.Equal(new ExitCodeReading(ExitCodeMeaning.RebootRequired, 3010, 3010), ExitCodes.Read(manifest, 3010, eightBit: false));
        Assert.Equal(new ExitCodeReading(ExitCodeMeaning.RebootRequired, 1641, 1641), ExitCodes.Read(manifest, 1641, eightBit: false));
        Assert.Equal(new ExitCodeReading(ExitCodeMeaning.RetryLater, 1618, 1618), ExitCodes.Read(manifest, 1618, eightBit: false));
        // Linux and macOS pass 3010 as 194, 1641 as 105 and 1618 as 82: read as the listed codes, and said to be.
        var mapped = ExitCodes.Read(manifest, 3010 & 0xFF, eightBit: true);
        Assert.Equal((ExitCodeMeaning.RebootRequired, 3010, 194, true), (mapped.Meaning, mapped.Code, mapped.Reported, mapped.Mapped));
        Assert.Equal(ExitCodeMeaning.RetryLater, ExitCodes.Read(manifest, 1618 & 0xFF, eightBit: true).Meaning);
        // On Windows 194 is 194: a failure.
        Assert.Equal(ExitCodeMeaning.Failure, ExitCodes.Read(manifest, 194, eightBit: false).Meaning);
        // A listed code wins over a mapping, and two listed codes with the same low 8 bits map to neither.
        Assert.Equal(ExitCodeMeaning.Success, ExitCodes.Read(Manifest([0, 194]), 194, eightBit: true).Meaning);
        Assert.Equal(ExitCodeMeaning.Failure, ExitCodes.Read(Manifest([0, 3010 - 256]), 194, eightBit: true).Meaning);
        // Older manifests name no reboot or retry codes: the defaults.
        Assert.Equal([3010, 1641], ExitCodes.Reboot(manifest));
        Assert.Empty(ExitCodes.Retry(Manifest([0], retry: [])));
    }

    [Fact]
    public void Lists_that_overlap_are_refused_and_wide_codes_are_named_where_8_bit_systems_may_install()
    {
        Assert.Null(ExitCodes.Validate([0], [3010, 1641], [1618]));
        Assert.Contains("3010 is in more than one", ExitCodes.Validate([0, 3010], [3010], []), StringComparison.Ordinal);
        Assert.Contains("at most 64", ExitCodes.Validate(Enumerable.Range(0, 65).ToList(), [], []), StringComparison.Ordinal);
        Assert.Equal([3010], ExitCodes.BeyondEightBits([0, 3010], [], [], null));
        Assert.Equal([3010], ExitCodes.BeyondEightBits([0, 3010], [], [], ["Windows", "Linux"]));
        Assert.Empty(ExitCodes.BeyondEightBits([0, 3010], [], [], ["Windows"]));
    }

    [Fact]
    public async Task A_package_keeps_a_default_code_given_as_a_success_and_refuses_one_code_in_two_lists()
    {
        var folder = ScriptPackage("listed", "exit 0");
        var package = await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Listed", "1.0", folder, "install.sh", SuccessExitCodes: [0, 3010]));
        Assert.Equal([0, 3010], package.SuccessExitCodes);
        Assert.Equal([1641], package.RebootExitCodes!);
        Assert.Equal([1618], package.RetryExitCodes!);

        var refused = await Assert.ThrowsAsync<DistException>(() => _h.Folder.Engine.Packages.CreateAsync(
            new NewPackageRequest("Twice", "1.0", folder, "install.sh", SuccessExitCodes: [0], RebootExitCodes: [3010], RetryExitCodes: [3010])));
        Assert.Equal("ExitCodesInvalid", refused.ErrorId);
        Assert.Empty(await _h.Folder.Engine.Packages.ListAsync("Twice"));
    }

    private string ScriptPackage(string name, string body)
    {
        var folder = Path.Combine(_h.Folder.Root, "package-" + name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "install.sh"), "#!/bin/sh\n" + body + "\n");
        return folder;
    }

    [Fact]
    public async Task A_reboot_code_is_success_with_a_restart_and_jp1dist_agent_once_ends_with_3010()
    {
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Driver", "1.0", ScriptPackage("driver", "exit 3010"), "install.sh"));
        // A first run registers the host; the job for it comes next.
        var token = (await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync("exit codes")).Token!;
        string[] arguments = ["agent", "--once", "--manager", _h.Url, "--token", token, "--name", "pc-driver", "--state", Path.Combine(_h.Folder.Root, "state-driver")];
        using (var first = NodeProcess.Start(null, arguments))
        {
            Assert.Equal(0, await first.WaitAsync(TimeSpan.FromSeconds(90)));
        }
        await _h.ExecuteAsync(new NewJobRequest("Driver install", "Driver", null, ["pc-driver"]));
        using var run = NodeProcess.Start(null, arguments);
        var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(90));
        output.WriteLine(await run.OutputAsync());

        Assert.Equal(OperatingSystem.IsWindows() ? 3010 : 3010 & 0xFF, exitCode);
        var status = await _h.StatusAsync("Driver install");
        Assert.Equal(TargetStatus.SucceededRebootRequired, status.Status);
        Assert.True(status.Status.IsSuccess() && status.Status.IsFinal());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(194, status.ExitCode);
            Assert.Contains("code 194 (read as 3010: this system passes only the low 8 bits of an exit code)", status.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_job_with_RebootAfter_restarts_the_computer_once_after_the_work_is_done()
    {
        // One log for the installs and the restart command, so their order shows.
        var log = Path.Combine(_h.Folder.Root, "restart.log");
        var restart = Path.Combine(_h.Folder.Root, "restart.sh");
        File.WriteAllText(restart, $"#!/bin/sh\necho \"restart $*\" >> '{log}'\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(restart, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("RestartDriver", "1.0", ScriptPackage("restart-driver", $"echo 'install driver' >> '{log}'\nexit 3010"), "install.sh"));
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("RestartApp", "1.0", ScriptPackage("restart-app", $"echo 'install app' >> '{log}'"), "install.sh"));
        var token = (await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync("restart")).Token!;
        string[] arguments = ["agent", "--once", "--manager", _h.Url, "--token", token, "--name", "pc-restart", "--state", Path.Combine(_h.Folder.Root, "state-restart"),
            "--reboot-command", restart, "--reboot-arguments", "now", "please", "--reboot-grace-seconds", "1"];
        using (var first = NodeProcess.Start(null, arguments))
        {
            Assert.Equal(0, await first.WaitAsync(TimeSpan.FromSeconds(90)));
        }
        await _h.ExecuteAsync(new NewJobRequest("Restart driver", "RestartDriver", null, ["pc-restart"], RebootAfter: true));
        await _h.ExecuteAsync(new NewJobRequest("Restart app", "RestartApp", null, ["pc-restart"]));

        using (var run = NodeProcess.Start(null, arguments))
        {
            var exitCode = await run.WaitAsync(TimeSpan.FromSeconds(90));
            var text = await run.OutputAsync();
            output.WriteLine(text);
            Assert.Equal(OperatingSystem.IsWindows() ? 3010 : 3010 & 0xFF, exitCode);
            Assert.Contains("Restarting this computer, as job 'Restart driver' (-RebootAfter) asked", text, StringComparison.Ordinal);
        }
        // Both installs ran before the restart, and the restart ran once, with its arguments as given.
        Assert.Equal(["install driver", "install app", "restart now please"], File.ReadAllLines(log));
        var status = await _h.StatusAsync("Restart driver");
        Assert.Equal(TargetStatus.SucceededRebootRequired, status.Status);
        Assert.Contains("Restart asked at", status.Message, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Restart app")).Status);

        // The next start finds the computer did not restart (the command was a script): it says so and does not ask again.
        using (var again = NodeProcess.Start(null, arguments))
        {
            Assert.Equal(0, await again.WaitAsync(TimeSpan.FromSeconds(90)));
            Assert.Contains("has not restarted since", await again.OutputAsync(), StringComparison.Ordinal);
        }
        Assert.Equal(3, File.ReadAllLines(log).Length);
    }

    [Fact]
    public async Task A_reboot_code_without_RebootAfter_leaves_the_restart_to_the_computer()
    {
        var agent = await _h.AgentAsync("pc-no-restart", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("NoRestart", "1.0", ScriptPackage("no-restart", "exit 3010"), "install.sh"));
        await _h.ExecuteAsync(new NewJobRequest("No restart", "NoRestart", null, ["pc-no-restart"]));

        await agent.RunOnceAsync(default);

        var status = await _h.StatusAsync("No restart");
        Assert.Equal(TargetStatus.SucceededRebootRequired, status.Status);
        Assert.Contains("does not restart the computer", status.Message, StringComparison.Ordinal);
        Assert.True(agent.RebootRequired);
        Assert.Null(agent.Store.LoadPowerRequest());
    }

    [Fact]
    public async Task RebootAfter_is_refused_for_a_transfer_to_relay_job()
    {
        var folder = ScriptPackage("relay-restart", "exit 0");
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("RelayRestart", "1.0", folder, "install.sh"));
        var refused = await Assert.ThrowsAsync<DistException>(() => _h.Folder.Engine.Jobs.CreateAsync(
            new NewJobRequest("Relay restart", "RelayRestart", null, ["x"], JobType.TransferToRelay, RebootAfter: true)));
        Assert.Equal("InstallSettingNotForTransfer", refused.ErrorId);
        Assert.Contains("-RebootAfter", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await _h.Folder.Engine.Jobs.ListAsync("Relay restart"));
    }

    [Fact]
    public async Task An_install_busy_elsewhere_is_queued_again_and_installs_when_it_can()
    {
        // Busy (1618) twice, then installs; the marker counts the runs. With no delay the agent is served each new
        // attempt within the same run.
        var marker = Path.Combine(_h.Folder.Root, "busy-runs");
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Busy", "1.0",
            ScriptPackage("busy", $"echo run >> '{marker}'\n[ $(wc -l < '{marker}') -ge 3 ] && exit 0\nexit 1618"), "install.sh"));
        var agent = await _h.AgentAsync("pc-busy", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.ExecuteAsync(new NewJobRequest("Busy install", "Busy", null, ["pc-busy"]));

        await agent.RunOnceAsync(default);

        var status = await _h.StatusAsync("Busy install");
        Assert.Equal((TargetStatus.Succeeded, 3), (status.Status, status.Attempt));
        Assert.Equal(3, File.ReadAllLines(marker).Length);
    }

    [Fact]
    public async Task The_next_attempt_after_a_retry_code_installs_no_sooner_than_the_delay()
    {
        _h.Distribution.RetryLaterDelay = TimeSpan.FromHours(1);
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Later", "1.0", ScriptPackage("later", "exit 1618"), "install.sh"));
        var agent = await _h.AgentAsync("pc-later", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.ExecuteAsync(new NewJobRequest("Later install", "Later", null, ["pc-later"]));
        var before = DateTime.UtcNow;

        await agent.RunOnceAsync(default);

        // The second attempt was served at once and waits, on the host, for its signed install time.
        var status = await _h.StatusAsync("Later install");
        output.WriteLine($"{status.Status} attempt {status.Attempt} at {status.InstallAt:u}: {status.Message}");
        Assert.Equal((TargetStatus.Transferred, 2), (status.Status, status.Attempt));
        Assert.StartsWith($"Retry 2 of {Core.Distribution.DistributionService.RetryLaterAttempts}, installing at", status.Message, StringComparison.Ordinal);
        Assert.Contains("a retry code", status.Message, StringComparison.Ordinal);
        Assert.True(status.InstallAt!.Value.ToUniversalTime() >= before.AddMinutes(59), $"installs at {status.InstallAt:u}");
    }

    [Fact]
    public async Task An_install_that_stays_busy_fails_after_its_attempts()
    {
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Stuck", "1.0", ScriptPackage("stuck", "exit 1618"), "install.sh"));
        var agent = await _h.AgentAsync("pc-stuck", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.ExecuteAsync(new NewJobRequest("Stuck install", "Stuck", null, ["pc-stuck"]));
        for (var run = 0; run < Core.Distribution.DistributionService.RetryLaterAttempts + 1; run++)
        {
            await agent.RunOnceAsync(default);
        }
        var status = await _h.StatusAsync("Stuck install");
        Assert.Equal((TargetStatus.Failed, Core.Distribution.DistributionService.RetryLaterAttempts), (status.Status, status.Attempt));
        Assert.Contains("No retry left: 5 attempts ended with a retry code.", status.Message, StringComparison.Ordinal);
    }
}
