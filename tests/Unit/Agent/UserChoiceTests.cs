using Microsoft.EntityFrameworkCore;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// User-choice jobs (FEATURES.md section 3, "send package, let the user choose"): the agent offers the package (Available
/// at the manager) and fetches and installs nothing until its user chooses it; the choice installs it once, as an install
/// job would, and the manager shows the install's result.
/// </summary>
public sealed class UserChoiceTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task A_user_choice_package_is_offered_until_the_user_installs_it_and_then_installed_once()
    {
        var handler = _h.Handler();
        using var agent = await _h.AgentAsync("pc-u", handler);
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("Offer", "App", null, ["pc-u"], JobType.UserChoice));

        await agent.RunOnceAsync(default);
        await agent.RunOnceAsync(default); // offered once: not reported or fetched again
        var status = await _h.StatusAsync("Offer");
        Assert.Equal(TargetStatus.Available, status.Status);
        Assert.False(status.Status.IsFinal());
        Assert.Empty(handler.Requests);
        Assert.Equal(0, _h.InstallCount());
        var offered = Assert.Single(agent.ListAvailable());
        Assert.Equal(("App", "1.0", false, "Offer"), (offered.Name, offered.Version, offered.Installed, offered.JobName));
        Assert.Equal(_h.Payload.Length, offered.SizeBytes - new FileInfo(Path.Combine(_h.Folder.Root, "pkg", "install.sh")).Length);

        // A name that is not offered is refused, naming what is, and changes nothing.
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => agent.InstallAvailableAsync("Other", null, default));
        Assert.Contains("App 1.0", unknown.Message, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Available, (await _h.StatusAsync("Offer")).Status);

        var outcome = await agent.InstallAvailableAsync("app", null, default);
        Assert.True(outcome.Succeeded, outcome.Message);
        Assert.Equal((ReportStatuses.Succeeded, 0), (outcome.Status, outcome.ExitCode));
        Assert.Equal(1, _h.InstallCount());
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Offer")).Status);
        Assert.Empty(agent.ListAvailable());

        // Asked again, it says so and runs nothing; nor does the agent's next run.
        var again = await agent.InstallAvailableAsync("App", null, default);
        Assert.True(again.AlreadyInstalled);
        await agent.RunOnceAsync(default);
        Assert.Equal(1, _h.InstallCount());
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Offer")).Status);
    }

    [Fact]
    public async Task An_offer_ends_with_the_package_expiry_and_cannot_be_installed_after_it()
    {
        var clock = new Engine.AuditRetentionTests.FixedClock(DateTimeOffset.UtcNow);
        using var agent = await _h.AgentAsync("pc-e", _h.Handler(), clock);
        await agent.RunOnceAsync(default);
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Brief", "1.0", Path.Combine(_h.Folder.Root, "pkg"), "install.sh", [_h.InstallLog],
            ExpiresAt: DateTime.UtcNow.AddDays(1)));
        await _h.ExecuteAsync(new NewJobRequest("Short", "Brief", null, ["pc-e"], JobType.UserChoice));
        await agent.RunOnceAsync(default);
        Assert.Single(agent.ListAvailable());

        using var later = await _h.AgentAsync("pc-e", _h.Handler(), new Engine.AuditRetentionTests.FixedClock(DateTimeOffset.UtcNow.AddDays(2)));
        Assert.Empty(later.ListAvailable());
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => later.InstallAvailableAsync("Brief", null, default));
        Assert.Contains("no package is available", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, _h.InstallCount());
    }

    [Fact]
    public async Task An_offer_whose_job_was_removed_is_withdrawn_at_the_next_poll_without_the_user_choosing()
    {
        using var agent = await _h.AgentAsync("pc-r", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("Gone", "App", null, ["pc-r"], JobType.UserChoice));
        await agent.RunOnceAsync(default);
        Assert.Single(agent.ListAvailable());
        // An offer only waits for its user: removing its job needs no -Force.
        await _h.Folder.Engine.Jobs.RemoveAsync("Gone", force: false);

        await agent.RunOnceAsync(default);
        Assert.Empty(agent.ListAvailable());
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => agent.InstallAvailableAsync("App", null, default));
        Assert.Contains("no package is available", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, _h.InstallCount());
    }

    [Fact]
    public async Task An_offer_is_kept_when_the_work_answer_does_not_list_open_items()
    {
        // A node that does not say which items are open (an older one, a relay out of touch) withdraws nothing.
        var handler = _h.Handler();
        handler.Rewrite = body => body.Contains("\"open\"", StringComparison.Ordinal)
            ? System.Text.RegularExpressions.Regex.Replace(body, "\"open\":\\[[^\\]]*\\]", "\"open\":null")
            : body;
        using var agent = await _h.AgentAsync("pc-k", handler);
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("Kept", "App", null, ["pc-k"], JobType.UserChoice));
        await agent.RunOnceAsync(default);
        await _h.Folder.Engine.Jobs.RemoveAsync("Kept", force: false);
        await agent.RunOnceAsync(default);
        Assert.Single(agent.ListAvailable());
    }

    [Fact]
    public async Task A_pre_download_offer_is_staged_before_it_is_offered_and_installed_without_fetching_again()
    {
        var handler = _h.Handler();
        using var agent = await _h.AgentAsync("pc-p", handler);
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        var refused = await Assert.ThrowsAsync<DistException>(() => _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest("Ahead", "App", null, ["pc-p"], PreDownload: true)));
        Assert.Equal("PreDownloadNotUserChoice", refused.ErrorId);
        Assert.Contains("-PreDownload", refused.Message, StringComparison.Ordinal);
        Assert.Contains("-Type Install", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await _h.Folder.Engine.Jobs.ListAsync("Ahead"));

        await _h.ExecuteAsync(new NewJobRequest("Ahead", "App", null, ["pc-p"], JobType.UserChoice, PreDownload: true));
        Assert.True((await _h.Folder.Engine.Jobs.ListAsync("Ahead")).Single().PreDownload);
        await agent.RunOnceAsync(default);
        var status = await _h.StatusAsync("Ahead");
        Assert.Equal(TargetStatus.Available, status.Status);
        Assert.NotEmpty(handler.PayloadOffsets); // fetched before the offer
        Assert.Equal(0, _h.InstallCount());
        var offered = Assert.Single(agent.ListAvailable());
        var staged = agent.Store.StagingFolder(offered.WorkItemId);
        Assert.Equal(_h.Payload, File.ReadAllBytes(Path.Combine(staged, "payload.bin")));

        var fetched = handler.Requests.Count;
        var outcome = await agent.InstallAvailableAsync("App", null, default);
        Assert.True(outcome.Succeeded, outcome.Message);
        Assert.Equal(fetched, handler.Requests.Count); // nothing more was fetched
        Assert.Equal(1, _h.InstallCount());
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Ahead")).Status);
    }

    [Fact]
    public async Task A_withdrawn_or_expired_pre_download_offer_takes_its_staged_copy_with_it()
    {
        using var agent = await _h.AgentAsync("pc-w", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("Staged", "App", null, ["pc-w"], JobType.UserChoice, PreDownload: true));
        await agent.RunOnceAsync(default);
        var offered = Assert.Single(agent.ListAvailable());
        Assert.True(Directory.Exists(agent.Store.StagingFolder(offered.WorkItemId)));
        await _h.Folder.Engine.Jobs.RemoveAsync("Staged", force: false);
        await agent.RunOnceAsync(default);
        Assert.Empty(agent.ListAvailable());
        Assert.False(agent.Store.HoldsFiles(offered.WorkItemId));

        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Brief", "1.0", Path.Combine(_h.Folder.Root, "pkg"), "install.sh", [_h.InstallLog],
            SegmentSize: AgentHarness.SegmentSize, ExpiresAt: DateTime.UtcNow.AddDays(1)));
        await _h.ExecuteAsync(new NewJobRequest("Expiring", "Brief", null, ["pc-w"], JobType.UserChoice, PreDownload: true));
        await agent.RunOnceAsync(default);
        var brief = Assert.Single(agent.ListAvailable());
        using var later = await _h.AgentAsync("pc-w", _h.Handler(), new Engine.AuditRetentionTests.FixedClock(DateTimeOffset.UtcNow.AddDays(2)));
        await later.RunOnceAsync(default);
        Assert.False(later.Store.HoldsFiles(brief.WorkItemId));
        Assert.Equal("Canceled", later.Store.LoadTicket(brief.WorkItemId)!.Result!.Status);
        Assert.Equal(TargetStatus.Available, (await _h.StatusAsync("Expiring")).Status); // the manager keeps its own expiry
        Assert.Equal(0, _h.InstallCount());
    }

    [Fact]
    public async Task A_waiting_poll_answers_when_the_job_of_an_offer_is_removed()
    {
        using var agent = await _h.AgentAsync("pc-y", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("Withdrawn");
        await _h.ExecuteAsync(new NewJobRequest("Withdrawn offered", "Withdrawn", null, ["pc-y"], JobType.UserChoice));
        await agent.RunOnceAsync(default);
        var status = await _h.StatusAsync("Withdrawn offered");
        Assert.Equal(TargetStatus.Available, status.Status);
        var offered = Assert.Single(agent.ListAvailable());

        // A poll that would wait ten minutes: it answers once the host's open items change, not at its end.
        var waiting = _h.Distribution.WaitForWorkAsync(status.HostId, TimeSpan.FromMinutes(10), default);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        await _h.Folder.Engine.Jobs.RemoveAsync("Withdrawn offered", force: false);
        var answer = await waiting.WaitAsync(TimeSpan.FromSeconds(90));
        Assert.Empty(answer.Items);
        Assert.NotNull(answer.Open);
        Assert.DoesNotContain(offered.WorkItemId, answer.Open);
    }

    [Fact]
    public async Task The_manager_ends_an_offer_whose_package_expired_and_leaves_the_others()
    {
        using var agent = await _h.AgentAsync("pc-x", _h.Handler());
        await agent.RunOnceAsync(default);
        await _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest("Soon", "1.0", Path.Combine(_h.Folder.Root, "pkg"), "install.sh", [_h.InstallLog],
            SegmentSize: AgentHarness.SegmentSize, ExpiresAt: DateTime.UtcNow.AddDays(1)));
        await _h.PackageAsync("Lasting");
        await _h.ExecuteAsync(new NewJobRequest("Soon offered", "Soon", null, ["pc-x"], JobType.UserChoice));
        await _h.ExecuteAsync(new NewJobRequest("Lasting offered", "Lasting", null, ["pc-x"], JobType.UserChoice));
        await agent.RunOnceAsync(default);
        Assert.Equal(TargetStatus.Available, (await _h.StatusAsync("Soon offered")).Status);
        Assert.Equal(0, await _h.Distribution.EndExpiredOffersAsync(default));

        // The package's expiry passes (its row says so, as a day later would).
        await using (var db = _h.Folder.Engine.Database.CreateContext())
        {
            await db.Packages.Where(p => p.Name == "Soon").ExecuteUpdateAsync(s => s.SetProperty(p => p.ExpiresAt, DateTime.UtcNow.AddMinutes(-1)));
        }
        Assert.Equal(1, await _h.Distribution.EndExpiredOffersAsync(default));
        var ended = await _h.StatusAsync("Soon offered");
        Assert.Equal(TargetStatus.Canceled, ended.Status);
        Assert.Contains("package 'Soon' 1.0 expired", ended.Message, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Available, (await _h.StatusAsync("Lasting offered")).Status);
        Assert.Equal(0, await _h.Distribution.EndExpiredOffersAsync(default)); // once
        await agent.RunOnceAsync(default);
        Assert.Equal(["Lasting"], agent.ListAvailable().Select(p => p.Name));
    }

    [Fact]
    public async Task Available_is_refused_for_a_job_that_is_not_a_user_choice()
    {
        var handler = _h.Handler();
        using var agent = await _h.AgentAsync("pc-i", handler);
        await agent.RunOnceAsync(default);
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("Install", "App", null, ["pc-i"]));
        var status = await _h.StatusAsync("Install");
        Assert.Equal(TargetStatus.Queued, status.Status);
        var item = (await _h.Distribution.GetWorkAsync(status.HostId, default)).Single();
        var refused = await Assert.ThrowsAsync<DistException>(() => _h.Distribution.ReportAsync(status.HostId,
            new ReportRequest(item.WorkItemId, ReportStatuses.Available), default));
        Assert.Equal("ReportStatusInvalid", refused.ErrorId);
        Assert.Equal(TargetStatus.Queued, (await _h.StatusAsync("Install")).Status);
    }
}
