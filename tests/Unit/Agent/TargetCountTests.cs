using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Tests.Engine;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// Get-DistJob's counts by status are kept as targets change (JobTargetCounts), not counted on every call: after every kind
/// of change (created, dispatched, a condition not met, suspended, resumed, canceled, reported by real agents, retried,
/// queued again after a retry code, offered and expired, re-executed, joined through an ID group, a host removed, a job
/// removed) they equal the targets counted afresh; a report that loses its compare-and-set, or comes twice, counts nothing.
/// </summary>
public sealed class TargetCountTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync()
    {
        _h = await AgentHarness.StartAsync();
        _h.Distribution.RetryDelay = TimeSpan.Zero;
        _h.Distribution.RetryLaterDelay = TimeSpan.Zero;
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private Task<IReadOnlyList<string>> CheckAsync(string when) => TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_h.Folder.Engine, when);

    private async Task<DistJobTargetCounts> CountsAsync(string job) => (await _h.Folder.Engine.Jobs.ListAsync(job)).Single().Targets;

    private string ScriptPackage(string name, string body)
    {
        var folder = Path.Combine(_h.Folder.Root, "package-" + name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "install.sh"), "#!/bin/sh\n" + body + "\n");
        return folder;
    }

    [Fact]
    public async Task Kept_counts_equal_the_targets_counted_afresh_after_every_kind_of_change()
    {
        var jobs = _h.Folder.Engine.Jobs;
        var agents = new Dictionary<string, JP1Dist.Agent.AgentRuntime>();
        foreach (var name in new[] { "pc-a", "pc-b", "pc-c", "pc-d" })
        {
            agents[name] = await _h.AgentAsync(name, _h.Handler());
            await agents[name].RunOnceAsync(default);
        }
        try
        {
            await _h.PackageAsync("App");
            await jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["pc-a", "pc-b", "pc-c", "pc-d"]));
            Assert.Empty(await CheckAsync("created"));

            // Executed (Waiting; the manager's scheduler may dispatch it meanwhile), suspended and resumed, dispatched.
            var deploy = await jobs.StartAsync("Deploy");
            await CheckAsync("executed");
            await jobs.SuspendAsync("Deploy", ["pc-d"]);
            await CheckAsync("suspended");
            await jobs.ResumeAsync("Deploy", ["pc-d"]);
            await CheckAsync("resumed");
            await _h.Distribution.DispatchAsync(deploy.ExecutionId, default);
            Assert.Equal(["Deploy Queued=4"], await CheckAsync("dispatched"));
            await jobs.SuspendAsync("Deploy", ["pc-c", "pc-d"]);
            await jobs.ResumeAsync("Deploy", ["pc-c"]);
            await jobs.CancelAsync("Deploy", ["pc-d"]);
            Assert.Equal(["Deploy Canceled=1", "Deploy Queued=3"], await CheckAsync("suspended, resumed and canceled"));

            // A condition the manager knows to fail: ConditionNotMet at dispatch, nothing sent.
            await _h.ExecuteAsync(new NewJobRequest("Windows only", "App", null, ["pc-a", "pc-b"], InstallConditions: new InstallConditions { OS = ["Windows"] }));
            Assert.Contains("Windows only ConditionNotMet=2", await CheckAsync("condition not met"));

            // Real agents take the work: Transferring, Installing and Succeeded reported over HTTP.
            foreach (var name in new[] { "pc-a", "pc-b", "pc-c" })
            {
                await agents[name].RunOnceAsync(default);
            }
            Assert.Contains("Deploy Succeeded=3", await CheckAsync("installed by the agents"));
            Assert.Equal(new DistJobTargetCounts(4, 3, 0, 0, 0, 0, 0, 1), await CountsAsync("Deploy"));

            // Failed, retried automatically (RetryLimit 1), failed again; re-executed by the administrator, dispatched.
            await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Broken", "1.0", ScriptPackage("broken", "exit 3"), "install.sh"));
            await _h.ExecuteAsync(new NewJobRequest("Broken install", "Broken", null, ["pc-a"], RetryLimit: 1));
            await agents["pc-a"].RunOnceAsync(default);
            await agents["pc-a"].RunOnceAsync(default);
            var failed = (await jobs.GetStatusAsync(new JobStatusQuery("Broken install"))).Single();
            Assert.Equal((TargetStatus.Failed, 2), (failed.Status, failed.Attempt));
            Assert.Contains("Broken install Failed=1", await CheckAsync("failed after a retry"));
            var again = await jobs.RestartAsync("Broken install", null);
            await CheckAsync("re-executed");
            await _h.Distribution.DispatchAsync(again.ExecutionId, default);
            Assert.Contains("Broken install Queued=1", await CheckAsync("re-executed and dispatched"));

            // An install busy elsewhere (1618) twice: queued again by the manager, then installed.
            var marker = Path.Combine(_h.Folder.Root, "busy-runs");
            await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Busy", "1.0",
                ScriptPackage("busy", $"echo run >> '{marker}'\n[ $(wc -l < '{marker}') -ge 3 ] && exit 0\nexit 1618"), "install.sh"));
            await _h.ExecuteAsync(new NewJobRequest("Busy install", "Busy", null, ["pc-b"]));
            await agents["pc-b"].RunOnceAsync(default);
            var busy = (await jobs.GetStatusAsync(new JobStatusQuery("Busy install"))).Single();
            Assert.Equal((TargetStatus.Succeeded, 3), (busy.Status, busy.Attempt));
            Assert.Contains("Busy install Succeeded=1", await CheckAsync("queued again after retry codes"));

            // Offered to a user, then the package expires and the manager ends the offer.
            await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Soon", "1.0", Path.Combine(_h.Folder.Root, "pkg"), "install.sh", [_h.InstallLog],
                SegmentSize: AgentHarness.SegmentSize, ExpiresAt: DateTime.UtcNow.AddDays(1)));
            await _h.ExecuteAsync(new NewJobRequest("Offer", "Soon", null, ["pc-c"], JobType.UserChoice));
            await agents["pc-c"].RunOnceAsync(default);
            Assert.Contains("Offer Available=1", await CheckAsync("offered"));
            await using (var db = _h.Folder.Engine.Database.CreateContext())
            {
                await db.Packages.Where(p => p.Name == "Soon").ExecuteUpdateAsync(s => s.SetProperty(p => p.ExpiresAt, DateTime.UtcNow.AddMinutes(-1)));
            }
            await _h.Distribution.EndExpiredOffersAsync(default);
            Assert.Contains("Offer Canceled=1", await CheckAsync("offer expired"));

            // Executed again: the ended targets start a new attempt.
            var second = await jobs.StartAsync("Deploy");
            Assert.Equal(4, second.TargetCount);
            await CheckAsync("Deploy executed again");
            await _h.Distribution.DispatchAsync(second.ExecutionId, default);
            await agents["pc-a"].RunOnceAsync(default);
            await CheckAsync("Deploy's second execution under way");

            // An ID group job executed while the group is empty; its members join later and become targets.
            await _h.Folder.Engine.IdGroups.CreateAsync("Ids", null);
            await jobs.CreateAsync(new NewJobRequest("For ids", "App", null, ["Ids"], DestinationType: DestinationType.IdGroup));
            await jobs.StartAsync("For ids");
            await _h.Folder.Engine.IdGroups.AddMembersAsync("Ids", ["pc-a", "pc-b"]);
            await CheckAsync("joined through the ID group");
            Assert.Equal(2, (await CountsAsync("For ids")).Total);

            // A host removed with its targets, in every job; a job removed with its counts.
            await _h.Folder.Engine.Hosts.RemoveAsync("pc-c", force: true);
            await CheckAsync("host removed");
            Assert.Equal(3, (await CountsAsync("Deploy")).Total);
            await jobs.RemoveAsync("Offer", force: true);
            await CheckAsync("job removed");
        }
        finally
        {
            foreach (var agent in agents.Values)
            {
                agent.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_report_that_loses_its_compare_and_set_or_comes_twice_counts_nothing()
    {
        var handler = _h.Handler();
        using var agent = await _h.AgentAsync("pc-x", handler);
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("Deploy", "App", null, ["pc-x"]));
        await agent.RunOnceAsync(default);
        var hostId = (await _h.StatusAsync("Deploy")).HostId;
        var done = await CheckAsync("installed");
        Assert.Contains("Deploy Succeeded=1", done);

        // Every report the agent sent, sent again: none is accepted, none counts.
        var reports = handler.Reports.Select(r => JsonSerializer.Deserialize<ReportRequest>(r, ProtocolJson.Options)!).ToList();
        Assert.Contains(reports, r => r.Status == "Transferring");
        foreach (var report in reports)
        {
            var answer = await _h.Distribution.ReportAsync(hostId, report, default);
            Assert.False(answer.Accepted, $"{report.Status} was accepted twice");
            Assert.Equal("Succeeded", answer.Status);
        }
        Assert.Equal(done, await CheckAsync("reports sent twice"));

        // Cut short by a cancellation in the middle of the transfer: the agent's next progress report loses its
        // compare-and-set (the target is Canceled) and the agent stops; the cancellation is counted once.
        await _h.ExecuteAsync(new NewJobRequest("Cut", "App", null, ["pc-x"]));
        var once = false;
        handler.BeforePayloadRead = async offset =>
        {
            if (offset >= AgentHarness.SegmentSize && !once)
            {
                once = true;
                await _h.Folder.Engine.Jobs.CancelAsync("Cut", null);
            }
        };
        handler.Reports.Clear();
        await agent.RunOnceAsync(default);
        Assert.True(once);
        Assert.Equal(TargetStatus.Canceled, (await _h.StatusAsync("Cut")).Status);
        var cut = await CheckAsync("cut short");
        Assert.Contains("Cut Canceled=1", cut);
        Assert.Equal(new DistJobTargetCounts(1, 0, 0, 0, 0, 0, 0, 1), (await _h.Folder.Engine.Jobs.ListAsync("Cut")).Single().Targets);

        // A late report of the canceled attempt, and one for a ticket re-executed since: refused, counting nothing.
        var ticket = JsonSerializer.Deserialize<ReportRequest>(handler.Reports[0], ProtocolJson.Options)!.WorkItemId;
        var late = await _h.Distribution.ReportAsync(hostId, new ReportRequest(ticket, "Succeeded", 0), default);
        Assert.Equal((false, "Canceled"), (late.Accepted, late.Status));
        await _h.Folder.Engine.Jobs.StartAsync("Cut");
        var stale = await Assert.ThrowsAsync<DistException>(() => _h.Distribution.ReportAsync(hostId, new ReportRequest(ticket, "Failed", 1), default));
        Assert.Equal("WorkItemNotFound", stale.ErrorId);
        // Waiting, or Queued if the manager's scheduler dispatched it already.
        Assert.Contains(await CheckAsync("late and stale reports"), line => line is "Cut Waiting=1" or "Cut Queued=1");
    }
}
