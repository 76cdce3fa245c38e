using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Packaging;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>A job from creation to re-execution, through the services the cmdlets and the manager use.</summary>
public sealed class JobLifecycleTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly DistributionService _distribution;

    public JobLifecycleTests()
    {
        _distribution = new DistributionService(_folder.Engine, new HostSignals());
        _folder.WriteFile("pkg/setup.sh", "exit 0");
    }

    private async Task<(Guid A, Guid B)> PrepareAsync()
    {
        var a = await _folder.RegisterHostAsync("pc-a");
        var b = await _folder.RegisterHostAsync("pc-b");
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["pc-a", "PC-B"]));
        return (a.HostId, b.HostId);
    }

    private async Task<Dictionary<string, DistJobStatus>> StatusAsync() =>
        (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Deploy"))).ToDictionary(s => s.HostName);

    [Fact]
    public async Task Unknown_destinations_and_packages_are_refused_and_nothing_is_saved()
    {
        await _folder.RegisterHostAsync("pc-a");
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        var host = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["pc-a", "nobody"])));
        Assert.Equal("HostNotFound", host.ErrorId);
        Assert.Contains("'nobody'", host.Message, StringComparison.Ordinal);
        var package = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Jobs.CreateAsync(new NewJobRequest("J", "Nothing", null, ["pc-a"])));
        Assert.Equal("PackageNotFound", package.ErrorId);
        Assert.Empty(await _folder.Engine.Jobs.ListAsync());
    }

    [Fact]
    public async Task The_dispatch_skips_hosts_whose_reported_inventory_fails_the_conditions()
    {
        await _folder.RegisterHostAsync("small", "Linux", "6.1", "10.0.0.1", memoryMB: 2048);
        await _folder.RegisterHostAsync("big", "Linux", "6.1", "10.0.0.2", memoryMB: 65536, new SoftwareFact("OldAV", "1.0", "dpkg"));
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh",
            InstallConditions: new InstallConditions { MinMemoryMB = 4096, SoftwareAbsent = ["OldAV"] }));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["small", "big"]));
        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");

        Assert.Equal(0, await _distribution.DispatchAsync(execution.ExecutionId, default));

        var status = await StatusAsync();
        Assert.All(status.Values, s => Assert.Equal(TargetStatus.ConditionNotMet, s.Status));
        Assert.Contains("2048 MB of memory", status["small"].Message, StringComparison.Ordinal);
        Assert.Contains("'OldAV' 1.0 is installed", status["big"].Message, StringComparison.Ordinal);
        Assert.All(status.Values, s => Assert.Contains("checked by the manager", s.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_dispatch_checks_the_jobs_conditions_over_the_packages_as_each_targets_settings_carry_them()
    {
        await _folder.RegisterHostAsync("small", "Linux", "6.1", "10.0.0.1", memoryMB: 2048);
        await _folder.RegisterHostAsync("big", "Linux", "6.1", "10.0.0.2", memoryMB: 65536);
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh",
            InstallConditions: new InstallConditions { MinMemoryMB = 1024 }));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["small", "big"], InstallConditions: new InstallConditions { MinMemoryMB = 4096 }));
        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");

        Assert.Equal(1, await _distribution.DispatchAsync(execution.ExecutionId, default));

        var status = await StatusAsync();
        Assert.Equal(TargetStatus.ConditionNotMet, status["small"].Status);
        Assert.Contains("2048 MB of memory", status["small"].Message, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Queued, status["big"].Status);
        // What the manager checked is what the host's signed settings say.
        var item = Assert.Single(await _distribution.GetWorkAsync(status["big"].HostId, default));
        var settings = System.Text.Json.JsonSerializer.Deserialize<JobSettings>(item.JobSettings!, ProtocolJson.Options)!;
        Assert.Equal(4096, settings.InstallConditions!.MinMemoryMB);
    }

    [Fact]
    public async Task The_dispatch_of_a_user_choice_job_checks_its_conditions_too()
    {
        await _folder.RegisterHostAsync("small", "Linux", "6.1", "10.0.0.1", memoryMB: 2048);
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh",
            InstallConditions: new InstallConditions { MinMemoryMB = 4096 }));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["small"], JobType.UserChoice));
        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");

        Assert.Equal(0, await _distribution.DispatchAsync(execution.ExecutionId, default));
        Assert.Equal(TargetStatus.ConditionNotMet, (await StatusAsync())["small"].Status);
    }

    [Fact]
    public async Task Executions_of_one_job_started_at_once_from_several_engines_are_each_counted_once()
    {
        await PrepareAsync();
        // Several sessions (engines on the same folder and database) execute the job at the same moment: each execution
        // they were told of is counted, none twice, and no target is left between two executions.
        var engines = Enumerable.Range(0, 4).Select(_ => new JP1Dist.Core.DistEngine(_folder.Engine.Folder)).ToList();
        var starts = engines.Select(e => Task.Run(async () =>
        {
            try
            {
                return (await e.Jobs.StartAsync("Deploy")).TargetCount;
            }
            catch (DistException)
            {
                return -1;
            }
        })).ToList();
        var counts = await Task.WhenAll(starts);
        var job = (await _folder.Engine.Jobs.ListAsync("Deploy")).Single();
        Assert.Equal(counts.Count(c => c >= 0), job.ExecutionCount);
        Assert.Equal(2, counts.Where(c => c >= 0).Sum()); // the first reached both hosts; the others found them busy
        Assert.All((await StatusAsync()).Values, s => Assert.Equal(TargetStatus.Waiting, s.Status));
    }

    [Fact]
    public async Task Executing_records_waiting_targets_that_the_dispatch_queues()
    {
        var (a, _) = await PrepareAsync();
        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");
        Assert.Equal(2, execution.TargetCount);
        Assert.All((await StatusAsync()).Values, s => Assert.Equal(TargetStatus.Waiting, s.Status));
        Assert.All((await StatusAsync()).Values, s => Assert.Equal(DistJobStatus.NoManagerMessage, s.Message));

        Assert.Single(await _distribution.GetUnscheduledAsync(default));
        Assert.Equal(2, await _distribution.DispatchAsync(execution.ExecutionId, default));
        Assert.Equal(0, await _distribution.DispatchAsync(execution.ExecutionId, default)); // a second firing changes nothing
        Assert.All((await StatusAsync()).Values, s => Assert.Equal(TargetStatus.Queued, s.Status));
        var work = await _distribution.GetWorkAsync(a, default);
        Assert.Equal("Deploy", Assert.Single(work).JobName);
    }

    [Fact]
    public async Task Reports_move_targets_forward_only_and_late_reports_change_nothing()
    {
        var (a, _) = await PrepareAsync();
        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        var item = (await _distribution.GetWorkAsync(a, default)).Single();

        Assert.True((await _distribution.ReportAsync(a, new ReportRequest(item.WorkItemId, "Transferring", BytesTransferred: 10), default)).Accepted);
        Assert.True((await _distribution.ReportAsync(a, new ReportRequest(item.WorkItemId, "Succeeded", 0, "ok"), default)).Accepted);
        var late = await _distribution.ReportAsync(a, new ReportRequest(item.WorkItemId, "Installing"), default);
        Assert.False(late.Accepted);
        Assert.Equal("Succeeded", late.Status);
        var duplicate = await _distribution.ReportAsync(a, new ReportRequest(item.WorkItemId, "Failed", 1), default);
        Assert.False(duplicate.Accepted);
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync())["pc-a"].Status);
        Assert.Empty(await _distribution.GetWorkAsync(a, default));
    }

    [Fact]
    public async Task A_report_for_another_host_or_a_bad_status_is_refused()
    {
        var (a, b) = await PrepareAsync();
        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        var item = (await _distribution.GetWorkAsync(a, default)).Single();
        var stolen = await Assert.ThrowsAsync<DistException>(() => _distribution.ReportAsync(b, new ReportRequest(item.WorkItemId, "Succeeded"), default));
        Assert.Equal("WorkItemNotFound", stolen.ErrorId);
        var bad = await Assert.ThrowsAsync<DistException>(() => _distribution.ReportAsync(a, new ReportRequest(item.WorkItemId, "Queued"), default));
        Assert.Equal("ReportStatusInvalid", bad.ErrorId);
        Assert.Equal(TargetStatus.Queued, (await StatusAsync())["pc-a"].Status);
    }

    [Fact]
    public async Task Re_execution_takes_only_failed_hosts_with_a_new_ticket()
    {
        var (a, b) = await PrepareAsync();
        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        var itemA = (await _distribution.GetWorkAsync(a, default)).Single();
        var itemB = (await _distribution.GetWorkAsync(b, default)).Single();
        await _distribution.ReportAsync(a, new ReportRequest(itemA.WorkItemId, "Succeeded", 0), default);
        await _distribution.ReportAsync(b, new ReportRequest(itemB.WorkItemId, "Failed", 3, "exit 3"), default);

        var restart = await _folder.Engine.Jobs.RestartAsync("Deploy", null);
        Assert.Equal(["pc-b"], restart.HostNames);
        var status = await StatusAsync();
        Assert.Equal((TargetStatus.Succeeded, 1), (status["pc-a"].Status, status["pc-a"].Attempt));
        Assert.Equal((TargetStatus.Waiting, 2), (status["pc-b"].Status, status["pc-b"].Attempt));
        Assert.Null(status["pc-b"].ExitCode);

        await _distribution.DispatchAsync(restart.ExecutionId, default);
        var retry = (await _distribution.GetWorkAsync(b, default)).Single();
        Assert.NotEqual(itemB.WorkItemId, retry.WorkItemId);
        var stale = await Assert.ThrowsAsync<DistException>(() => _distribution.ReportAsync(b, new ReportRequest(itemB.WorkItemId, "Succeeded"), default));
        Assert.Equal("WorkItemNotFound", stale.ErrorId);

        var nothing = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Jobs.RestartAsync("Deploy", ["pc-a"]));
        Assert.Equal("NoFailedTargets", nothing.ErrorId);
    }

    [Fact]
    public async Task Each_targets_signed_settings_name_its_own_ticket_and_host_first_and_on_re_execution()
    {
        // Enough hosts that the settings are signed on several threads at once.
        var hosts = new Dictionary<string, Guid>();
        for (var i = 0; i < 24; i++)
        {
            hosts[$"pc-{i:D2}"] = (await _folder.RegisterHostAsync($"pc-{i:D2}")).HostId;
        }
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, [.. hosts.Keys]));
        await _distribution.DispatchAsync((await _folder.Engine.Jobs.StartAsync("Deploy")).ExecutionId, default);

        async Task<Dictionary<string, WorkItem>> ServedAsync(IEnumerable<string> names)
        {
            var served = new Dictionary<string, WorkItem>();
            foreach (var name in names)
            {
                var item = Assert.Single(await _distribution.GetWorkAsync(hosts[name], default));
                Assert.True(JP1Dist.Protocol.Signing.ManifestSigner.Verify(_folder.Engine.Signer.PublicKey, item.JobSettings!, item.JobSettingsSignature!), name);
                var settings = System.Text.Json.JsonSerializer.Deserialize<JobSettings>(item.JobSettings!, ProtocolJson.Options)!;
                Assert.Equal((item.WorkItemId, hosts[name]), (settings.WorkItemId, settings.HostId));
                served[name] = item;
            }
            return served;
        }

        var first = await ServedAsync(hosts.Keys);
        Assert.Equal(hosts.Count, first.Values.Select(i => i.WorkItemId).Distinct().Count());
        var failing = hosts.Keys.Where((_, i) => i % 2 == 1).ToList();
        foreach (var name in hosts.Keys)
        {
            await _distribution.ReportAsync(hosts[name], new ReportRequest(first[name].WorkItemId, failing.Contains(name) ? "Failed" : "Succeeded", failing.Contains(name) ? 1 : 0), default);
        }

        await _distribution.DispatchAsync((await _folder.Engine.Jobs.RestartAsync("Deploy", null)).ExecutionId, default);
        var again = await ServedAsync(failing);
        Assert.All(failing, name => Assert.NotEqual(first[name].WorkItemId, again[name].WorkItemId));
    }

    [Fact]
    public async Task Hosts_a_policy_brings_into_an_id_group_at_once_each_get_settings_naming_their_own_ticket_and_host_for_every_job()
    {
        // Two jobs on the group, and enough joiners at once that their settings are signed on several threads.
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("Tool", "2.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.IdGroups.CreateAsync("ID_ALL", null);
        foreach (var (job, package) in new[] { ("Deploy", "App"), ("Tools", "Tool") })
        {
            await _folder.Engine.Jobs.CreateAsync(new NewJobRequest(job, package, null, ["ID_ALL"], DestinationType: DestinationType.IdGroup));
            await _distribution.DispatchAsync((await _folder.Engine.Jobs.StartAsync(job)).ExecutionId, default);
        }
        var hosts = new Dictionary<string, Guid>();
        for (var i = 0; i < 24; i++)
        {
            hosts[$"pc-{i:D2}"] = (await _folder.RegisterHostAsync($"pc-{i:D2}")).HostId;
        }
        Assert.Empty(await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Deploy")));

        await _folder.Engine.IdGroups.SetPolicyAsync("ID_ALL", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["pc-*"] }]);

        // The executions were dispatched: every joiner is queued at once, with its queue time, and the kept counts say so.
        foreach (var job in new[] { "Deploy", "Tools" })
        {
            var joined = await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery(job));
            Assert.All(joined, s => Assert.Equal((TargetStatus.Queued, 1, true), (s.Status, s.Attempt, s.QueuedAt is not null)));
            Assert.Equal(new DistJobTargetCounts(24, 0, 0, 24, 0, 0, 0, 0), (await _folder.Engine.Jobs.ListAsync(job)).Single().Targets);
        }

        var tickets = new HashSet<Guid>();
        foreach (var (name, hostId) in hosts)
        {
            var items = await _distribution.GetWorkAsync(hostId, default);
            Assert.Equal(["Deploy", "Tools"], items.Select(i => i.JobName).Order());
            foreach (var item in items)
            {
                Assert.True(JP1Dist.Protocol.Signing.ManifestSigner.Verify(_folder.Engine.Signer.PublicKey, item.JobSettings!, item.JobSettingsSignature!), name);
                var settings = System.Text.Json.JsonSerializer.Deserialize<JobSettings>(item.JobSettings!, ProtocolJson.Options)!;
                Assert.Equal((item.WorkItemId, hostId, item.JobName), (settings.WorkItemId, settings.HostId, settings.JobName));
                Assert.True(tickets.Add(item.WorkItemId), name);
            }
        }
        foreach (var job in new[] { "Deploy", "Tools" })
        {
            Assert.Equal(hosts.Keys.Order(), (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery(job))).Select(s => s.HostName).Order());
        }
    }

    [Fact]
    public async Task Hosts_that_join_an_id_group_before_its_execution_time_wait_for_it_unqueued()
    {
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.IdGroups.CreateAsync("ID_LATER", null);
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Tonight", "App", null, ["ID_LATER"], DestinationType: DestinationType.IdGroup,
            DistributeAt: DateTime.Now.AddHours(6)));
        await _folder.Engine.Jobs.StartAsync("Tonight");
        var hosts = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            hosts.Add((await _folder.RegisterHostAsync($"pc-{i:D2}")).HostId);
        }

        await _folder.Engine.IdGroups.SetPolicyAsync("ID_LATER", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["pc-*"] }]);

        var joined = await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Tonight"));
        Assert.Equal(5, joined.Count);
        Assert.All(joined, s => Assert.Equal((TargetStatus.Waiting, 1, false), (s.Status, s.Attempt, s.QueuedAt is not null)));
        Assert.Equal(new DistJobTargetCounts(5, 0, 0, 0, 5, 0, 0, 0), (await _folder.Engine.Jobs.ListAsync("Tonight")).Single().Targets);
        foreach (var hostId in hosts)
        {
            Assert.Empty(await _distribution.GetWorkAsync(hostId, default));
        }
    }

    [Fact]
    public async Task A_package_in_use_is_not_removed()
    {
        await PrepareAsync();
        await _folder.Engine.Jobs.StartAsync("Deploy");
        var error = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Packages.RemoveAsync("App", "1.0", force: false));
        Assert.Equal("PackageInUse", error.ErrorId);
        Assert.Single(await _folder.Engine.Packages.ListAsync());
    }

    [Theory]
    [InlineData(0, null)] // every job read in host name order from the hosts' index, as the database reads it by default
    [InlineData(0, 2)] // the same, "Wide"'s first two hosts apart, then the rest after them
    [InlineData(0, 9)] // all nine of "Wide"'s first, and a second query that finds none
    [InlineData(2, 1)] // "Wide" and "Mid" in host order from the first host on, "Narrow" by target and sorted
    [InlineData(4_000, null)] // every job by target and sorted (the default for jobs this small)
    public async Task Status_rows_come_in_host_name_order_whether_the_job_reaches_most_hosts_or_few(int sortedRowsLimit, int? hostOrderFirst)
    {
        _folder.Engine.Jobs.SortedRowsLimit = sortedRowsLimit;
        _folder.Engine.Jobs.HostOrderFirst = hostOrderFirst;
        // Registered out of name order. "Wide" reaches every host, "Mid" three of nine, "Narrow" one: each answers in host
        // name order whichever way it is read, with the same columns, and a wildcard answers job after job.
        string[] names = ["pc-g", "pc-c", "PC-i", "pc-a", "pc-e", "pc-h", "pc-b", "pc-f", "pc-d"];
        foreach (var name in names)
        {
            await _folder.RegisterHostAsync(name);
        }
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Wide", "App", null, names));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Narrow", "App", null, ["pc-e"]));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Mid", "App", null, ["pc-h", "pc-b", "PC-i"]));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Never run", "App", null, ["pc-a"]));
        await _folder.Engine.Jobs.StartAsync("Wide");
        await _folder.Engine.Jobs.StartAsync("Narrow");
        await _folder.Engine.Jobs.StartAsync("Mid");
        await _folder.Engine.Jobs.CancelAsync("Mid", ["pc-h"]);

        var wide = await _folder.Engine.Jobs.StreamStatusAsync(new JobStatusQuery("Wide")).ToListAsync();
        Assert.Equal(names.OrderBy(n => n, StringComparer.OrdinalIgnoreCase), wide.Select(s => s.HostName));
        Assert.All(wide, s => Assert.Equal(TargetStatus.Waiting, s.Status));
        Assert.Equal("pc-e", Assert.Single(await _folder.Engine.Jobs.StreamStatusAsync(new JobStatusQuery("Narrow")).ToListAsync()).HostName);
        Assert.Equal(["pc-b", "pc-h", "PC-i"], (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Mid"))).Select(s => s.HostName));
        Assert.Empty(await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Never run")));
        // Filters apply on either read; a status filter counts only the rows it shows.
        Assert.Equal(["pc-a", "pc-b"], (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Wide", "pc-[ab]"))).Select(s => s.HostName));
        Assert.Empty(await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Wide", null, [TargetStatus.Succeeded])));
        Assert.Equal(["pc-b", "PC-i"], (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Mid", null, [TargetStatus.Waiting, TargetStatus.Waiting]))).Select(s => s.HostName));
        Assert.Equal("pc-h", Assert.Single(await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Mid", null, [TargetStatus.Canceled]))).HostName);
        // The wildcard read of every job answers job after job in name order, each in host name order.
        var all = await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("*"));
        Assert.Equal(["Mid", "Mid", "Mid", "Narrow", .. Enumerable.Repeat("Wide", names.Length)], all.Select(s => s.JobName));
        Assert.Equal(["pc-b", "pc-h", "PC-i", "pc-e", .. names.OrderBy(n => n, StringComparer.OrdinalIgnoreCase)], all.Select(s => s.HostName));
        var fromBoth = all.Single(s => s.JobName == "Wide" && s.HostName == "pc-e");
        Assert.Equivalent(wide.Single(s => s.HostName == "pc-e"), fromBoth);
        Assert.Equal(["Narrow", "Wide"], (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("*", "pc-e"))).Select(s => s.JobName));
        Assert.Equal(["Mid", "Wide"], (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("[MW]*", "pc-b"))).Select(s => s.JobName));
        Assert.Equal(["pc-b", "pc-h"], (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("M*", "pc-[a-h]"))).Select(s => s.HostName));
    }

    public void Dispose() => _folder.Dispose();
}
