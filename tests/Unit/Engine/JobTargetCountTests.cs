using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Jobs;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// Get-DistJob's deployment summary: each job's targets counted by status in one grouped query, changing as targets end;
/// and Get-DistHost's group filters, which reach the hosts a job to the group reaches.
/// </summary>
public sealed class JobTargetCountTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly DistributionService _distribution;

    public JobTargetCountTests()
    {
        _distribution = new DistributionService(_folder.Engine, new HostSignals());
        _folder.WriteFile("pkg/setup.sh", "exit 0");
    }

    public void Dispose() => _folder.Dispose();

    private async Task<DistJob> JobAsync(string name) => (await _folder.Engine.Jobs.ListAsync(name)).Single();

    [Fact]
    public async Task Counts_follow_the_targets_of_each_job_as_they_end()
    {
        var a = (await _folder.RegisterHostAsync("pc-a")).HostId;
        var b = (await _folder.RegisterHostAsync("pc-b")).HostId;
        await _folder.RegisterHostAsync("pc-c");
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["pc-a", "pc-b", "pc-c"]));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Other", "App", null, ["pc-a"]));

        Assert.Equal(DistJobTargetCounts.None, (await JobAsync("Deploy")).Targets);
        Assert.Equal("no targets", (await JobAsync("Deploy")).Targets.ToString());

        var execution = await _folder.Engine.Jobs.StartAsync("Deploy");
        Assert.Equal(new DistJobTargetCounts(3, 0, 0, 0, 3, 0, 0, 0), (await JobAsync("Deploy")).Targets);
        Assert.Equal(3, (await JobAsync("Deploy")).Targets.Pending);
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        Assert.Equal(new DistJobTargetCounts(3, 0, 0, 3, 0, 0, 0, 0), (await JobAsync("Deploy")).Targets);

        var itemA = (await _distribution.GetWorkAsync(a, default)).Single();
        var itemB = (await _distribution.GetWorkAsync(b, default)).Single();
        await _distribution.ReportAsync(a, new ReportRequest(itemA.WorkItemId, "Succeeded", 0), default);
        await _distribution.ReportAsync(b, new ReportRequest(itemB.WorkItemId, "Failed", 3, "exit 3"), default);
        await _folder.Engine.Jobs.ControlAsync("Deploy", ["pc-c"], JobControlAction.Cancel);

        var jobs = await _folder.Engine.Jobs.ListAsync();
        var deploy = jobs.Single(j => j.Name == "Deploy").Targets;
        Assert.Equal(new DistJobTargetCounts(3, 1, 1, 0, 0, 0, 0, 1), deploy);
        Assert.Equal(0, deploy.Pending);
        Assert.Equal("1 succeeded, 1 failed, 1 canceled", deploy.ToString());
        // Another job's targets are its own: the grouped query keeps jobs apart.
        Assert.Equal(DistJobTargetCounts.None, jobs.Single(j => j.Name == "Other").Targets);
    }

    [Fact]
    public async Task Counting_is_one_grouped_query_for_every_job()
    {
        await _folder.RegisterHostAsync("pc-a");
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        for (var i = 0; i < 5; i++)
        {
            await _folder.Engine.Jobs.CreateAsync(new NewJobRequest($"J{i}", "App", null, ["pc-a"]));
            await _folder.Engine.Jobs.StartAsync($"J{i}");
        }
        await using var db = _folder.Engine.Database.CreateContext();
        var counts = await JobService.CountTargetsAsync(db, [.. Enumerable.Range(1, 100)], default);
        Assert.Equal(5, counts.Count);
        Assert.All(counts.Values, c => Assert.Equal(new DistJobTargetCounts(1, 0, 0, 0, 1, 0, 0, 0), c));
        // The query groups in the database: its SQL has one GROUP BY over job and status.
        var sql = Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToQueryString(JobService.TargetCountQuery(db, [1, 2]));
        Assert.Contains("GROUP BY", sql, StringComparison.Ordinal);
        Assert.Contains("COUNT(*)", sql, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Every_status_falls_in_exactly_one_count()
    {
        foreach (var status in Enum.GetValues<TargetStatus>())
        {
            var counts = DistJobTargetCounts.From([KeyValuePair.Create(status, 2)]);
            var buckets = new[] { counts.Succeeded, counts.Failed, counts.InProgress, counts.Waiting, counts.Available, counts.ConditionNotMet, counts.Canceled };
            Assert.Equal(2, counts.Total);
            Assert.Equal(2, buckets.Sum());
            Assert.Single(buckets, n => n == 2);
            Assert.Equal(!status.IsFinal() || status == TargetStatus.Available ? 2 : 0, counts.Pending);
        }
    }

    [Fact]
    public async Task A_host_group_lists_the_hosts_a_job_to_it_reaches_nested_groups_included()
    {
        foreach (var name in new[] { "pc-a", "pc-b", "pc-c", "pc-d" })
        {
            await _folder.RegisterHostAsync(name);
        }
        await _folder.Engine.HostGroups.CreateAsync("Floor", null);
        await _folder.Engine.HostGroups.CreateAsync("Room", null);
        await _folder.Engine.HostGroups.AddMembersAsync("Room", ["pc-c"], null);
        await _folder.Engine.HostGroups.AddMembersAsync("Floor", ["pc-a"], ["Room"]);
        await _folder.Engine.IdGroups.CreateAsync("Ids", null);
        await _folder.Engine.IdGroups.AddMembersAsync("Ids", ["pc-b", "pc-d"]);

        Assert.Equal(["pc-a", "pc-c"], (await _folder.Engine.Hosts.ListAsync(new HostQuery(HostGroup: "floor"))).Select(h => h.Name));
        Assert.Equal(["pc-c"], (await _folder.Engine.Hosts.ListAsync(new HostQuery("*-c", HostGroup: "Floor"))).Select(h => h.Name));
        Assert.Equal(["pc-b", "pc-d"], (await _folder.Engine.Hosts.ListAsync(new HostQuery(IdGroup: "Ids"))).Select(h => h.Name));
        var missing = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Hosts.ListAsync(new HostQuery(HostGroup: "Nowhere")));
        Assert.Equal("HostGroupNotFound", missing.ErrorId);
        var missingId = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Hosts.ListAsync(new HostQuery(IdGroup: "Nowhere")));
        Assert.Equal("IdGroupNotFound", missingId.ErrorId);
    }

    [Fact]
    public void Lists_read_as_their_items_joined_and_stay_lists()
    {
        var job = new DistJob("J", "App", "1.0", JobType.Install, ["pc-a", "pc-b"], null, null, DateTime.Now, 0, null, 1);
        Assert.Equal("pc-a, pc-b", job.Destinations.ToString());
        Assert.Equal("pc-c", (job with { Destinations = ["pc-c"] }).Destinations.ToString());
        Assert.Equal(["pc-a", "pc-b"], job.Destinations);
    }
}
