using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// The agent against a real manager over loopback: resume after a kill, a corrupted segment, suspend and resume at a
/// segment boundary, cancel, install time across a restart, and conditions on the agent and on the manager.
/// </summary>
public sealed class TransferTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static long Offset(int segment) => (long)segment * AgentHarness.SegmentSize;

    private static IEnumerable<long> Offsets(int from, int to) => Enumerable.Range(from, to - from).Select(Offset);

    /// <summary>Registers the agent (first run, no work yet) and returns it.</summary>
    private async Task<global::JP1Dist.Agent.AgentRuntime> RegisteredAsync(string name, RecordingHandler handler, TimeProvider? time = null)
    {
        var agent = await _h.AgentAsync(name, handler, time);
        await agent.RunOnceAsync(default);
        return agent;
    }

    [Fact]
    public async Task A_transfer_cut_off_by_a_kill_resumes_after_the_last_verified_segment()
    {
        var first = _h.Handler();
        using var cut = new CancellationTokenSource();
        first.BeforePayloadRead = offset =>
        {
            if (offset >= Offset(4))
            {
                cut.Cancel(); // the agent dies while receiving segment 4
                throw new OperationCanceledException(cut.Token);
            }
            return Task.CompletedTask;
        };
        using (var agent = await RegisteredAsync("pc-1", first))
        {
            await _h.PackageAsync("App");
            await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => agent.RunOnceAsync(cut.Token));
        }
        Assert.Equal(TargetStatus.Transferring, (await _h.StatusAsync("J")).Status);

        var second = _h.Handler();
        using (var restarted = await _h.AgentAsync("pc-1", second))
        {
            await restarted.RunOnceAsync(default);
        }
        Assert.Equal([0L], first.PayloadOffsets); // one request streams the file, segment after segment
        Assert.Equal([Offset(4)], second.PayloadOffsets); // resumed after the 4 segments verified before the kill
        Assert.DoesNotContain(second.Requests, r => r.IsScript); // the script file was complete before the kill
        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.Succeeded, status.Status);
        Assert.Equal(AgentHarness.Segments + 1, status.SegmentsTransferred);
        Assert.Equal(1, _h.InstallCount());
    }

    [Fact]
    public async Task A_resumed_transfer_checks_what_it_wrote_before_and_fetches_again_from_a_damaged_segment()
    {
        var first = _h.Handler();
        using var cut = new CancellationTokenSource();
        first.BeforePayloadRead = offset =>
        {
            if (offset >= Offset(4))
            {
                cut.Cancel();
                throw new OperationCanceledException(cut.Token);
            }
            return Task.CompletedTask;
        };
        using (var agent = await RegisteredAsync("pc-1", first))
        {
            await _h.PackageAsync("App");
            await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => agent.RunOnceAsync(cut.Token));
        }
        // The disk lost part of what was written before the restart (segments 0-3 were verified then).
        var partial = Directory.GetFiles(Path.Combine(_h.Folder.Root, "agent-pc-1"), "*.part", SearchOption.AllDirectories).Single();
        await using (var file = new FileStream(partial, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = Offset(2) + 10;
            var original = (byte)file.ReadByte();
            file.Position = Offset(2) + 10;
            file.WriteByte((byte)(original ^ 0x55));
        }

        var second = _h.Handler();
        using (var restarted = await _h.AgentAsync("pc-1", second))
        {
            await restarted.RunOnceAsync(default);
        }
        Assert.Equal([Offset(2)], second.PayloadOffsets);
        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.Succeeded, status.Status);
        Assert.Equal(AgentHarness.Segments + 1, status.SegmentsTransferred);
        Assert.Equal(_h.Payload.Length + File.ReadAllBytes(Path.Combine(_h.Folder.Root, "pkg", "install.sh")).Length, status.BytesTransferred);
    }

    [Fact]
    public async Task A_corrupted_segment_is_detected_by_its_hash_and_fetched_again()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
        handler.CorruptOffset = Offset(6) + 5;
        await agent.RunOnceAsync(default);

        // Streamed from the start; segment 6 failed its hash and was fetched again from there, nothing before it.
        Assert.Equal([0L, Offset(6)], handler.PayloadOffsets);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);
    }

    [Fact]
    public async Task A_suspended_transfer_stops_at_a_segment_boundary_and_resumes_there()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"], SegmentIntervalSeconds: 0.01, BandwidthLimitKBps: 10_000));
        var once = false;
        handler.BeforePayloadRead = async offset =>
        {
            if (offset >= Offset(2) && !once)
            {
                // Suspended while segment 2 is on its way: it completes, and the agent stops after it.
                once = true;
                var suspended = await _h.Folder.Engine.Jobs.SuspendAsync("J", ["pc-1"]);
                Assert.Equal(TargetStatus.Suspended, Assert.Single(suspended).Status);
            }
        };
        await agent.RunOnceAsync(default);
        Assert.Equal(Offsets(0, 3), handler.PayloadOffsets);
        Assert.Equal(TargetStatus.Suspended, (await _h.StatusAsync("J")).Status);

        await agent.RunOnceAsync(default); // suspended: not served, nothing fetched
        Assert.Equal(3, handler.PayloadOffsets.Count());

        handler.BeforePayloadRead = null;
        var resumed = await _h.Folder.Engine.Jobs.ResumeAsync("J", null);
        Assert.Equal(TargetStatus.Queued, Assert.Single(resumed).Status);
        await agent.RunOnceAsync(default);
        Assert.Equal(Offsets(0, AgentHarness.Segments), handler.PayloadOffsets);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);
        Assert.Equal(1, _h.InstallCount());
        Assert.Contains(handler.Reports, r => r.Contains("\"segmentsTransferred\":5", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_canceled_transfer_stops_and_installs_nothing()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
        var once = false;
        handler.BeforePayloadRead = async offset =>
        {
            if (offset >= Offset(1) && !once)
            {
                once = true;
                await _h.Folder.Engine.Jobs.CancelAsync("J", null);
            }
        };
        await agent.RunOnceAsync(default);
        Assert.Equal([0L], handler.PayloadOffsets);
        Assert.True((await _h.StatusAsync("J")).SegmentsTransferred <= 3); // stopped at the boundary after segment 1
        Assert.Equal(TargetStatus.Canceled, (await _h.StatusAsync("J")).Status);
        Assert.Equal(0, _h.InstallCount());
        var again = await Assert.ThrowsAsync<DistException>(() => _h.Folder.Engine.Jobs.CancelAsync("J", null));
        Assert.Equal("NothingToCancel", again.ErrorId);
    }

    [Fact]
    public async Task A_suspended_host_that_has_not_started_does_not_start_and_resumes_to_its_place()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App");
        await _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["pc-1"], DistributeAt: DateTime.UtcNow.AddHours(1)));
        await _h.Folder.Engine.Jobs.StartAsync("J");
        await _h.Folder.Engine.Jobs.SuspendAsync("J", null);
        Assert.Equal(TargetStatus.Waiting, Assert.Single(await _h.Folder.Engine.Jobs.ResumeAsync("J", null)).Status); // not yet dispatched
        await _h.Folder.Engine.Jobs.SuspendAsync("J", null);
        var execution = (await _h.Folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("J"))).Single();
        Assert.Equal(TargetStatus.Suspended, execution.Status);
        await agent.RunOnceAsync(default);
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task Transferred_is_reported_only_by_an_install_that_waits_for_its_time()
    {
        static IReadOnlyList<string> Statuses(RecordingHandler handler)
        {
            var statuses = handler.Reports.Select(r => System.Text.Json.JsonSerializer.Deserialize<ReportRequest>(r, ProtocolJson.Options)!.Status).ToList();
            return statuses.Where((status, i) => i == 0 || status != statuses[i - 1]).ToList(); // progress repeats Transferring
        }

        // Installed at once: the claim (Installing) moves the target from Transferring, with nothing reported in between.
        var now = _h.Handler();
        using (var agent = await RegisteredAsync("pc-now", now))
        {
            await _h.PackageAsync("App");
            await _h.ExecuteAsync(new NewJobRequest("Now", "App", null, ["pc-now"]));
            await agent.RunOnceAsync(default);
        }
        Assert.Equal(["Transferring", "Installing", "Succeeded"], Statuses(now));
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Now")).Status);

        // Installed later: Transferred says the host holds the package until its install time.
        var later = _h.Handler();
        using (var agent = await RegisteredAsync("pc-later", later))
        {
            await _h.ExecuteAsync(new NewJobRequest("Later", "App", null, ["pc-later"], InstallAt: DateTime.UtcNow.AddHours(1)));
            await agent.RunOnceAsync(default);
        }
        Assert.Equal(["Transferring", "Transferred"], Statuses(later));
        Assert.Equal(TargetStatus.Transferred, (await _h.StatusAsync("Later")).Status);
    }

    [Fact]
    public async Task The_install_waits_for_its_time_across_an_agent_restart()
    {
        var installAt = DateTime.UtcNow.AddHours(1);
        var handler = _h.Handler();
        Guid hostId;
        using (var agent = await RegisteredAsync("pc-1", handler))
        {
            await _h.PackageAsync("App", installAt: installAt);
            await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
            await agent.RunOnceAsync(default);
            hostId = (await _h.StatusAsync("J")).HostId;
        }
        var waiting = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.Transferred, waiting.Status);
        Assert.Equal(installAt, waiting.InstallAt!.Value, TimeSpan.FromSeconds(1));
        Assert.Equal(0, _h.InstallCount());
        Assert.Empty(await _h.Distribution.GetWorkAsync(hostId, default)); // not served again before its time

        // Restarted after the install time (the host was off then): it installs from what it kept on disk.
        var later = _h.Handler();
        using (var restarted = await _h.AgentAsync("pc-1", later, new ManualTime(installAt.AddMinutes(5))))
        {
            await restarted.RunOnceAsync(default);
        }
        Assert.Empty(later.Requests);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);
        Assert.Equal(1, _h.InstallCount());
    }

    [Fact]
    public async Task A_target_suspended_while_it_waits_for_its_install_time_does_not_install_until_resumed()
    {
        var installAt = DateTime.UtcNow.AddHours(1);
        var handler = _h.Handler();
        using (var agent = await RegisteredAsync("pc-1", handler))
        {
            await _h.PackageAsync("App", installAt: installAt);
            await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
            await agent.RunOnceAsync(default);
        }
        Assert.Equal(TargetStatus.Suspended, Assert.Single(await _h.Folder.Engine.Jobs.SuspendAsync("J", null)).Status);

        var laterHandler = _h.Handler();
        using var later = await _h.AgentAsync("pc-1", laterHandler, new ManualTime(installAt.AddMinutes(5)));
        await later.RunOnceAsync(default); // due, but the claim is refused: suspended
        Assert.Equal(TargetStatus.Suspended, (await _h.StatusAsync("J")).Status);
        Assert.Equal(0, _h.InstallCount());

        await _h.Folder.Engine.Jobs.ResumeAsync("J", null);
        await later.RunOnceAsync(default);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);
        Assert.Equal(1, _h.InstallCount());
        Assert.Empty(laterHandler.Requests); // installed from what it kept on disk: nothing fetched again
    }

    [Fact]
    public async Task A_job_install_time_overrides_the_package_and_a_restart_before_it_installs_nothing()
    {
        var handler = _h.Handler();
        var now = DateTimeOffset.UtcNow;
        using (var agent = await RegisteredAsync("pc-1", handler))
        {
            await _h.PackageAsync("App");
            await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"], InstallAt: now.UtcDateTime.AddDays(1)));
            await agent.RunOnceAsync(default);
        }
        using (var restarted = await _h.AgentAsync("pc-1", _h.Handler(), new ManualTime(now.AddHours(1))))
        {
            await restarted.RunOnceAsync(default);
        }
        Assert.Equal(TargetStatus.Transferred, (await _h.StatusAsync("J")).Status);
        Assert.Equal(0, _h.InstallCount());
    }

    [Fact]
    public async Task A_condition_the_agent_finds_unmet_is_ConditionNotMet_before_any_download()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App", new InstallConditions { MinFreeDiskMB = 1L << 40 });
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
        await agent.RunOnceAsync(default);
        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.ConditionNotMet, status.Status);
        Assert.StartsWith("Condition MinFreeDiskMB not met:", status.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Requests);
        Assert.Null(status.ExitCode);
    }

    [Fact]
    public async Task A_job_overrides_its_package_conditions_and_the_check_program_runs_before_the_install()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App", new InstallConditions { MinFreeDiskMB = 1L << 40 });
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"],
            InstallConditions: new InstallConditions { MinFreeDiskMB = 1, CheckCommand = "sh", CheckArguments = ["-c", "exit 7"] }));
        await agent.RunOnceAsync(default);
        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.ConditionNotMet, status.Status);
        Assert.Contains("CheckCommand", status.Message, StringComparison.Ordinal);
        Assert.Contains("exited with code 7", status.Message, StringComparison.Ordinal);
        Assert.Equal([0L], handler.PayloadOffsets); // downloaded: the check runs right before installing
        Assert.Equal(AgentHarness.Segments + 1, status.SegmentsTransferred);
        Assert.Equal(0, _h.InstallCount());
    }

    [Fact]
    public async Task Software_installed_by_JP1Dist_is_a_fact_for_later_conditions()
    {
        using var agent = await RegisteredAsync("pc-1", _h.Handler());
        await _h.PackageAsync("Base", version: "2.5");
        await _h.ExecuteAsync(new NewJobRequest("base", "Base", null, ["pc-1"]));
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("Plugin", new InstallConditions { SoftwareInstalled = ["Base >=2.0"] });
        await _h.PackageAsync("Legacy", new InstallConditions { SoftwareAbsent = ["base"] });
        await _h.ExecuteAsync(new NewJobRequest("plugin", "Plugin", null, ["pc-1"]));
        await _h.ExecuteAsync(new NewJobRequest("legacy", "Legacy", null, ["pc-1"]));
        await agent.RunOnceAsync(default);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("plugin")).Status);
        var legacy = await _h.StatusAsync("legacy");
        Assert.Equal(TargetStatus.ConditionNotMet, legacy.Status);
        Assert.Contains("'base' 2.5 is installed", legacy.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_manager_skips_hosts_whose_known_facts_fail_and_sends_them_nothing()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App", new InstallConditions { Architecture = ["Sparc64"] });
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.ConditionNotMet, status.Status);
        Assert.Contains("Condition Architecture not met", status.Message, StringComparison.Ordinal);
        Assert.Contains("checked by the manager", status.Message, StringComparison.Ordinal);
        await agent.RunOnceAsync(default);
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task Job_settings_altered_on_the_way_are_refused()
    {
        var handler = _h.Handler();
        using var agent = await RegisteredAsync("pc-1", handler);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"], InstallAt: DateTime.UtcNow.AddDays(1)));
        // A relay that moves the install time: the signature no longer matches.
        handler.Rewrite = body => body.Replace("installAt\\\":\\\"2", "installAt\\\":\\\"1", StringComparison.Ordinal);
        await agent.RunOnceAsync(default);
        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.Failed, status.Status);
        Assert.Contains("job settings are not signed", status.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Requests);
    }
}
