using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Packaging;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>Host groups, ID groups, policies, inventory and group jobs through the engine services.</summary>
public sealed class DestinationTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly DistributionService _distribution;

    public DestinationTests()
    {
        _distribution = new DistributionService(_folder.Engine, new HostSignals()) { RetryDelay = TimeSpan.Zero };
        _folder.WriteFile("pkg/setup.sh", "exit 0");
    }

    private JP1Dist.Core.DistEngine Engine => _folder.Engine;

    private Task<DistPackage> CreatePackageAsync() => Engine.Packages.CreateAsync(new NewPackageRequest("AV", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));

    private static Dictionary<string, IReadOnlyList<string>> Rule(params (string Fact, string Pattern)[] entries) =>
        entries.ToDictionary(e => e.Fact, e => (IReadOnlyList<string>)[e.Pattern]);

    [Fact]
    public async Task Nested_groups_expand_to_each_host_once()
    {
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            await _folder.RegisterHostAsync(name);
        }
        await Engine.HostGroups.CreateAsync("Sales", null);
        await Engine.HostGroups.CreateAsync("Tokyo", null);
        await Engine.HostGroups.CreateAsync("All", null);
        await Engine.HostGroups.AddMembersAsync("Sales", ["a", "b"], null);
        await Engine.HostGroups.AddMembersAsync("Tokyo", ["b", "c"], null);
        var all = await Engine.HostGroups.AddMembersAsync("All", ["a"], ["Sales", "Tokyo"]);
        Assert.Equal(3, all.HostCount);
        Assert.Equal(["Sales", "Tokyo"], all.Groups);

        await CreatePackageAsync();
        await Engine.Jobs.CreateAsync(new NewJobRequest("J", "AV", null, ["All", "Sales"], DestinationType: DestinationType.HostGroup));
        var execution = await Engine.Jobs.StartAsync("J");
        Assert.Equal(3, execution.TargetCount);
        Assert.Equal(["a", "b", "c"], execution.HostNames.Order());
        Assert.Equal(["All", "Sales"], (await Engine.Jobs.ListAsync("J")).Single().Destinations);
    }

    [Fact]
    public async Task Suspend_resume_and_cancel_act_on_the_hosts_a_group_job_reached()
    {
        foreach (var name in new[] { "a", "b", "c" })
        {
            await _folder.RegisterHostAsync(name);
        }
        await Engine.HostGroups.CreateAsync("Sales", null);
        await Engine.HostGroups.AddMembersAsync("Sales", ["a", "b"], null);
        await CreatePackageAsync();
        await Engine.Jobs.CreateAsync(new NewJobRequest("J", "AV", null, ["Sales"], DestinationType: DestinationType.HostGroup));
        await Engine.Jobs.StartAsync("J");

        // By host: a host the group brought in; one it did not is named in the error, and nothing changes.
        Assert.Equal(["a"], (await Engine.Jobs.SuspendAsync("J", ["A"])).Select(s => s.HostName));
        var outside = await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.SuspendAsync("J", ["b", "c"]));
        Assert.Equal("HostNotInJob", outside.ErrorId);
        Assert.Equal("c", outside.Target);
        Assert.Contains("'c'", outside.Message, StringComparison.Ordinal);
        Assert.Equal(["a"], (await Engine.Jobs.ResumeAsync("J", null)).Select(s => s.HostName));

        // The whole job: every host the execution expanded the group to.
        Assert.Equal(["a", "b"], (await Engine.Jobs.SuspendAsync("J", null)).Select(s => s.HostName).Order());
        Assert.Equal(["a", "b"], (await Engine.Jobs.ResumeAsync("J", null)).Select(s => s.HostName).Order());
        Assert.Equal(["a", "b"], (await Engine.Jobs.CancelAsync("J", null)).Select(s => s.HostName).Order());
        Assert.All(await Engine.Jobs.GetStatusAsync(new JobStatusQuery("J")), s => Assert.Equal(TargetStatus.Canceled, s.Status));
    }

    [Fact]
    public async Task A_job_names_hosts_and_host_groups_together_and_reaches_each_host_once()
    {
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            await _folder.RegisterHostAsync(name);
        }
        await Engine.HostGroups.CreateAsync("Sales", null);
        await Engine.HostGroups.AddMembersAsync("Sales", ["b", "c"], null);
        await CreatePackageAsync();

        var bad = await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.CreateAsync(new NewJobRequest("J", "AV", null, ["a"], HostGroups: ["Nothing"])));
        Assert.Equal("HostGroupNotFound", bad.ErrorId);
        var mixedType = await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.CreateAsync(
            new NewJobRequest("J", "AV", null, ["Sales"], DestinationType: DestinationType.HostGroup, HostGroups: ["Sales"])));
        Assert.Equal("HostGroupWithDestinationType", mixedType.ErrorId);
        Assert.Empty(await Engine.Jobs.ListAsync());

        await Engine.Jobs.CreateAsync(new NewJobRequest("J", "AV", null, ["a", "b"], HostGroups: ["Sales"]));
        Assert.Equal(["a", "b", "Sales"], (await Engine.Jobs.ListAsync("J")).Single().Destinations);
        var execution = await Engine.Jobs.StartAsync("J");
        Assert.Equal(["a", "b", "c"], execution.HostNames);
        Assert.Equal("HostGroupInUse", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.RemoveAsync("Sales", default))).ErrorId);

        await Engine.Jobs.CreateAsync(new NewJobRequest("K", "AV", null, [], HostGroups: ["Sales"]));
        Assert.Equal(["b", "c"], (await Engine.Jobs.StartAsync("K")).HostNames);
    }

    [Fact]
    public async Task Cycles_unknown_names_and_groups_in_use_are_refused_and_change_nothing()
    {
        await _folder.RegisterHostAsync("a");
        await Engine.HostGroups.CreateAsync("G1", null);
        await Engine.HostGroups.CreateAsync("G2", null);
        await Engine.HostGroups.CreateAsync("G3", null);
        await Engine.HostGroups.AddMembersAsync("G1", null, ["G2"]);
        await Engine.HostGroups.AddMembersAsync("G2", null, ["G3"]);
        Assert.Equal("HostGroupCycle", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.AddMembersAsync("G3", ["a"], ["G1"]))).ErrorId);
        Assert.Equal("HostGroupCycle", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.AddMembersAsync("G1", null, ["G1"]))).ErrorId);
        Assert.Empty((await Engine.HostGroups.ListAsync("G3")).Single().Hosts); // the host named with the cycle was not added
        Assert.Equal("HostNotFound", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.AddMembersAsync("G1", ["a", "nobody"], null))).ErrorId);
        Assert.Empty((await Engine.HostGroups.ListAsync("G1")).Single().Hosts);
        Assert.Equal("HostGroupNotFound", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.AddMembersAsync("nothing", ["a"], null))).ErrorId);
        Assert.Equal("HostGroupAlreadyExists", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.CreateAsync("g1", null))).ErrorId);
        Assert.Equal("HostGroupMemberNotFound", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.RemoveMembersAsync("G1", ["a"], null))).ErrorId);

        await CreatePackageAsync();
        Assert.Equal("HostGroupNotFound", (await Assert.ThrowsAsync<DistException>(() =>
            Engine.Jobs.CreateAsync(new NewJobRequest("J", "AV", null, ["G1", "Nope"], DestinationType: DestinationType.HostGroup)))).ErrorId);
        await Engine.Jobs.CreateAsync(new NewJobRequest("J", "AV", null, ["G2"], DestinationType: DestinationType.HostGroup));
        Assert.Equal("HostGroupInUse", (await Assert.ThrowsAsync<DistException>(() => Engine.HostGroups.RemoveAsync("G2"))).ErrorId);
        Assert.Equal(3, (await Engine.HostGroups.ListAsync()).Count);
        await Engine.HostGroups.RemoveAsync("G3");
        Assert.Empty((await Engine.HostGroups.ListAsync("G2")).Single().Groups);
    }

    [Fact]
    public async Task A_policy_admits_matching_hosts_and_lets_non_matching_ones_go()
    {
        await _folder.RegisterHostAsync("new-1", "Windows", "10.0.19045", "10.1.0.5", 16384, new SoftwareFact("Office", "16.0.1", "Registry"));
        await _folder.RegisterHostAsync("new-2", "Windows", "10.0.17763", "10.1.0.6");
        await _folder.RegisterHostAsync("old-1", "Windows", "10.0.19045", "10.1.0.7");
        await Engine.IdGroups.CreateAsync("ID_NEWCLT", null);
        await Engine.IdGroups.AddMembersAsync("ID_NEWCLT", ["old-1"]);

        await Engine.IdGroups.SetPolicyAsync("ID_NEWCLT", [Rule(("HostName", "new-*"), ("OSVersion", ">=10.0.19045"))]);
        var group = (await Engine.IdGroups.ListAsync("ID_NEWCLT")).Single();
        Assert.Equal(["new-1", "old-1"], group.HostNames);
        Assert.Equal(MembershipSource.Policy, group.Members.Single(m => m.HostName == "new-1").Source);
        Assert.Equal(MembershipSource.Manual, group.Members.Single(m => m.HostName == "old-1").Source);

        // A host registering later with matching facts joins at its first connection; changed facts make it leave.
        var later = await _folder.RegisterHostAsync("new-3", "Windows", "10.0.22631", "10.1.0.8");
        Assert.Contains("new-3", (await Engine.IdGroups.ListAsync("ID_NEWCLT")).Single().HostNames);
        await Engine.Inventory.ReportFactsAsync(later.HostId, new FactsReport("Windows", "6.1", "X64", ["10.1.0.8"], null, "1", null));
        Assert.DoesNotContain("new-3", (await Engine.IdGroups.ListAsync("ID_NEWCLT")).Single().HostNames);

        // A bad policy changes nothing; a new policy moves policy members only.
        Assert.Equal("PolicyFactUnknown", (await Assert.ThrowsAsync<DistException>(() =>
            Engine.IdGroups.SetPolicyAsync("ID_NEWCLT", [Rule(("Colour", "red"))]))).ErrorId);
        Assert.Single((await Engine.IdGroups.GetPoliciesAsync("ID_NEWCLT")).Single().Rules);
        await Engine.IdGroups.SetPolicyAsync("ID_NEWCLT", [Rule(("SoftwareInstalled", "Office>=16"))]);
        Assert.Equal(["new-1", "old-1"], (await Engine.IdGroups.ListAsync("ID_NEWCLT")).Single().HostNames);
        await Engine.IdGroups.SetPolicyAsync("ID_NEWCLT", []);
        Assert.Equal(["old-1"], (await Engine.IdGroups.ListAsync("ID_NEWCLT")).Single().HostNames);
    }

    [Fact]
    public async Task A_policy_on_host_groups_follows_group_membership()
    {
        await _folder.RegisterHostAsync("pc-1");
        await Engine.HostGroups.CreateAsync("Sales", null);
        await Engine.HostGroups.CreateAsync("Company", null);
        await Engine.HostGroups.AddMembersAsync("Company", null, ["Sales"]);
        await Engine.IdGroups.CreateAsync("Everyone", null);
        await Engine.IdGroups.SetPolicyAsync("Everyone", [Rule(("HostGroup", "Company"))]);
        Assert.Empty((await Engine.IdGroups.ListAsync("Everyone")).Single().Members);
        await Engine.HostGroups.AddMembersAsync("Sales", ["pc-1"], null);
        Assert.Equal(["pc-1"], (await Engine.IdGroups.ListAsync("Everyone")).Single().HostNames);
        await Engine.HostGroups.RemoveMembersAsync("Sales", ["pc-1"], null);
        Assert.Empty((await Engine.IdGroups.ListAsync("Everyone")).Single().Members);
    }

    [Fact]
    public async Task An_id_group_job_reaches_later_joiners_and_retries_failures_up_to_its_limit()
    {
        await CreatePackageAsync();
        await Engine.IdGroups.CreateAsync("ID_NEWCLT", null);
        await Engine.Jobs.CreateAsync(new NewJobRequest("AV to new", "AV", null, ["ID_NEWCLT"], DestinationType: DestinationType.IdGroup, RetryLimit: 1));
        Assert.Equal("IdGroupInUse", (await Assert.ThrowsAsync<DistException>(() => Engine.IdGroups.RemoveAsync("ID_NEWCLT"))).ErrorId);
        var execution = await Engine.Jobs.StartAsync("AV to new"); // empty group: nothing yet, later joiners get it
        Assert.Equal(0, execution.TargetCount);
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        await Engine.IdGroups.SetPolicyAsync("ID_NEWCLT", [Rule(("HostName", "new-*"))]);

        var joiner = await _folder.RegisterHostAsync("new-1");
        await _folder.RegisterHostAsync("other");
        var status = Assert.Single(await Engine.Jobs.GetStatusAsync(new JobStatusQuery("AV to new")));
        Assert.Equal(("new-1", TargetStatus.Queued), (status.HostName, status.Status));
        Assert.NotEqual(default, status.AddedAt);

        var item = Assert.Single(await _distribution.GetWorkAsync(joiner.HostId, default));
        await _distribution.ReportAsync(joiner.HostId, new ReportRequest(item.WorkItemId, "Failed", 1, "broken"), default);
        var retry = Assert.Single(await _distribution.GetWorkAsync(joiner.HostId, default)); // next connection: retried once
        Assert.Equal(2, retry.Attempt);
        await _distribution.ReportAsync(joiner.HostId, new ReportRequest(retry.WorkItemId, "Failed", 1, "broken again"), default);
        Assert.Empty(await _distribution.GetWorkAsync(joiner.HostId, default)); // the limit is reached
        Assert.Equal(TargetStatus.Failed, (await Engine.Jobs.GetStatusAsync(new JobStatusQuery("AV to new"))).Single().Status);

        // Restart-DistJob works as for any job, and success is recorded in the inventory.
        await Engine.Jobs.RestartAsync("AV to new", null);
        await _distribution.DispatchAsync((await _distribution.GetUnscheduledAsync(default))[^1].Id, default);
        var third = Assert.Single(await _distribution.GetWorkAsync(joiner.HostId, default));
        await _distribution.ReportAsync(joiner.HostId, new ReportRequest(third.WorkItemId, "Succeeded", 0, "ok"), default);
        var software = Assert.Single(await Engine.Inventory.FindSoftwareAsync("AV<2", "new-*"));
        Assert.Equal(("new-1", "1.0", "JP1Dist"), (software.HostName, software.Version, software.Source));
    }

    [Fact]
    public async Task A_newer_install_replaces_only_its_own_hosts_JP1Dist_row_of_that_package()
    {
        // "c" reports an AV of its own (dpkg): a JP1Dist install beside it replaces only what JP1Dist recorded.
        var hosts = new Dictionary<string, Guid>
        {
            ["a"] = (await _folder.RegisterHostAsync("a")).HostId,
            ["b"] = (await _folder.RegisterHostAsync("b")).HostId,
            ["c"] = (await _folder.RegisterHostAsync("c", "Linux", "6.1", "10.0.0.3", 2048, new SoftwareFact("AV", "0.9", "dpkg"))).HostId,
        };
        await CreatePackageAsync();
        await Engine.Packages.CreateAsync(new NewPackageRequest("AV", "2.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await Engine.Packages.CreateAsync(new NewPackageRequest("Tool", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));

        async Task InstallAsync(string job, string package, string version, params string[] names)
        {
            await Engine.Jobs.CreateAsync(new NewJobRequest(job, package, version, names));
            await _distribution.DispatchAsync((await Engine.Jobs.StartAsync(job)).ExecutionId, default);
            // Every host's success reported at once, so that they share one write.
            await Task.WhenAll(names.Select(async name =>
            {
                var item = Assert.Single(await _distribution.GetWorkAsync(hosts[name], default));
                await _distribution.ReportAsync(hosts[name], new ReportRequest(item.WorkItemId, "Succeeded", 0, "ok"), default);
            }));
        }

        await InstallAsync("AV 1", "AV", "1.0", "a", "b", "c");
        await InstallAsync("Tool", "Tool", "1.0", "a", "b");
        await InstallAsync("AV 2", "AV", "2.0", "a", "c");

        var rows = (await Engine.Inventory.FindSoftwareAsync("*")).Select(s => $"{s.HostName} {s.Name} {s.Version} {s.Source}").Order();
        Assert.Equal(["a AV 2.0 JP1Dist", "a Tool 1.0 JP1Dist", "b AV 1.0 JP1Dist", "b Tool 1.0 JP1Dist", "c AV 0.9 dpkg", "c AV 2.0 JP1Dist"], rows);
    }

    [Fact]
    public async Task Inventory_answers_which_hosts_have_a_package_below_a_version()
    {
        await _folder.RegisterHostAsync("a", "Linux", "6.1", "10.0.0.1", 2048, new SoftwareFact("openssl", "1.1.1f", "dpkg"), new SoftwareFact("curl", "7.81", "dpkg"));
        await _folder.RegisterHostAsync("b", "Linux", "6.1", "10.0.0.2", 2048, new SoftwareFact("openssl", "3.0.2", "dpkg"));
        var old = Assert.Single(await Engine.Inventory.FindSoftwareAsync("openssl<3.0"));
        Assert.Equal("a", old.HostName);
        Assert.Equal(["a", "b"], (await Engine.Inventory.FindSoftwareAsync("OPEN*")).Select(s => s.HostName));
        Assert.Equal(["curl", "openssl"], (await Engine.Inventory.FindSoftwareAsync("*l", "a")).Select(s => s.Name));
        var inventory = (await Engine.Inventory.ListAsync("a")).Single();
        Assert.Equal(2048, inventory.MemoryMB);
        Assert.Equal(["curl", "openssl"], inventory.Software.Select(s => s.Name));
        Assert.Equal(50_000, inventory.Volumes.Single().FreeMB);
        Assert.Equal("VersionRangeInvalid", (await Assert.ThrowsAsync<DistException>(() => Engine.Inventory.FindSoftwareAsync("openssl<"))).ErrorId);
    }

    [SqliteOnlyFact("PostgreSQL's columns are typed, so a bulk write cannot store a value in another shape")]
    public async Task Targets_written_in_bulk_are_stored_as_entity_framework_stores_them()
    {
        await _folder.RegisterHostAsync("a");
        await CreatePackageAsync();
        await Engine.IdGroups.CreateAsync("I", null);
        await Engine.IdGroups.AddMembersAsync("I", ["a"]);
        await Engine.Jobs.CreateAsync(new NewJobRequest("J", "AV", null, ["I"], DestinationType: DestinationType.IdGroup));
        await Engine.Jobs.StartAsync("J");                    // bulk INSERT
        await _folder.RegisterHostAsync("b");
        await Engine.IdGroups.AddMembersAsync("I", ["b"]);     // tracked entity (a joiner)
        await using var db = Engine.Database.CreateContext();
        var shapes = await db.Database.SqlQueryRaw<string>(
            "SELECT typeof(\"WorkItemId\") || typeof(\"HostId\") || typeof(\"CreatedAt\") || typeof(\"Status\") || (\"WorkItemId\" = upper(\"WorkItemId\")) || (\"HostId\" = upper(\"HostId\")) AS \"Value\" FROM \"Targets\"").ToListAsync();
        Assert.Equal(2, shapes.Count);
        Assert.Equal(shapes[0], shapes[1]);
    }

    [Fact]
    public async Task Removing_a_host_takes_it_out_of_its_groups()
    {
        await _folder.RegisterHostAsync("a", "Linux", "6.1", "10.0.0.1", 2048, new SoftwareFact("curl", "7.81", "dpkg"));
        await _folder.RegisterHostAsync("b");
        await Engine.HostGroups.CreateAsync("G", null);
        await Engine.HostGroups.AddMembersAsync("G", ["a", "b"], null);
        await Engine.IdGroups.CreateAsync("I", null);
        await Engine.IdGroups.AddMembersAsync("I", ["a"]);
        await Engine.Hosts.RemoveAsync("a", force: false);
        Assert.Equal(["b"], (await Engine.HostGroups.ListAsync("G")).Single().Hosts);
        Assert.Empty((await Engine.IdGroups.ListAsync("I")).Single().Members);
        Assert.Empty(await Engine.Inventory.FindSoftwareAsync("curl"));
    }

    public void Dispose() => _folder.Dispose();
}
