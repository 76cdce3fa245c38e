using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// Get-DistJob's deployment summary: each job's targets counted by status, kept as targets change (JobTargetCounts);
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
        // Another job's targets are its own: counts are kept by job.
        Assert.Equal(DistJobTargetCounts.None, jobs.Single(j => j.Name == "Other").Targets);
    }

    [Fact]
    public async Task Counts_are_read_from_the_kept_rows_and_a_migrated_database_gets_them_from_its_targets()
    {
        await _folder.RegisterHostAsync("pc-a");
        await _folder.RegisterHostAsync("pc-b");
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        for (var i = 0; i < 3; i++)
        {
            await _folder.Engine.Jobs.CreateAsync(new NewJobRequest($"J{i}", "App", null, ["pc-a", "pc-b"]));
        }
        var execution = await _folder.Engine.Jobs.StartAsync("J0");
        await _folder.Engine.Jobs.StartAsync("J1");
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        await _folder.Engine.Jobs.CancelAsync("J0", ["pc-b"]);
        var before = await TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_folder.Engine, "before");
        Assert.Equal(["J0 Canceled=1", "J0 Queued=1", "J1 Waiting=2"], before);

        // Get-DistJob reads the kept rows: a row changed behind the engine's back shows (and the check says it is wrong).
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            await db.JobTargetCounts.Where(c => c.Status == TargetStatus.Waiting).ExecuteUpdateAsync(s => s.SetProperty(c => c.Count, 7));
        }
        Assert.Equal(7, (await JobAsync("J2")).Targets.Waiting);
        await Assert.ThrowsAnyAsync<Xunit.Sdk.XunitException>(() => TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_folder.Engine, "tampered"));

        // A database from before the counts: the table dropped with its migration, then migrated again, which counts the
        // targets there are (and gives every job its rows, 0 where no target is).
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            var migrator = db.GetService<IMigrator>();
            var migrations = db.Database.GetAppliedMigrations().ToList();
            var countsMigration = migrations.Single(m => m.EndsWith("_JobTargetCounts", StringComparison.Ordinal));
            await migrator.MigrateAsync(migrations[migrations.IndexOf(countsMigration) - 1]);
            Assert.DoesNotContain(countsMigration, db.Database.GetAppliedMigrations());
            await migrator.MigrateAsync();
        }
        Assert.Equal(before, await TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_folder.Engine, "migrated"));
        Assert.Equal(new DistJobTargetCounts(2, 0, 0, 1, 0, 0, 0, 1), (await JobAsync("J0")).Targets);
        Assert.Equal(DistJobTargetCounts.None, (await JobAsync("J2")).Targets);

        // And they are kept from there on.
        await _folder.Engine.Jobs.StartAsync("J2");
        await _folder.Engine.Jobs.SuspendAsync("J1", ["pc-a"]);
        await TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_folder.Engine, "after the migration");
    }

    [Fact]
    public void Only_TargetCounts_sets_a_target_status_in_the_database_or_changes_a_count()
    {
        // Every set-based change of a target's status goes through TargetCounts.MoveAsync, and only TargetCounts writes a
        // count: a status set anywhere else would leave the counts behind.
        var sources = Directory.EnumerateFiles(Path.Combine(Repository.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}Migrations{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(sources, f => f.EndsWith("TargetCounts.cs", StringComparison.Ordinal));
        var statusSetters = sources.Where(f => File.ReadAllText(f).Contains("SetProperty(t => t.Status", StringComparison.Ordinal)).Select(Path.GetFileName);
        Assert.Equal(["TargetCounts.cs"], statusSetters);
        var countWriters = sources.Where(f => System.Text.RegularExpressions.Regex.IsMatch(File.ReadAllText(f), @"JobTargetCounts\b[^;]*Execute(Update|Delete)")).Select(Path.GetFileName);
        Assert.Equal(["TargetCounts.cs"], countWriters);
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

    [PostgreSqlOnlyFact("SQLite runs one writer at a time, so no report can commit between a move's read of the states and its update")]
    public async Task A_suspension_moves_a_target_whose_first_report_committed_between_the_suspensions_read_and_its_update()
    {
        var host = (await _folder.RegisterHostAsync("pc-a")).HostId;
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["pc-a"]));
        await _distribution.DispatchAsync((await _folder.Engine.Jobs.StartAsync("Deploy")).ExecutionId, default);
        var item = (await _distribution.GetWorkAsync(host, default)).Single();

        // The target is Queued when the suspension reads which states its targets are in; its first progress report
        // (Queued to Transferring) commits before the suspension's update of the Queued ones.
        ReportResponse? crossing = null;
        var report = new AfterFirstRead("DISTINCT", async () => crossing = await _distribution.ReportAsync(host, new ReportRequest(item.WorkItemId, "Transferring", null), default));
        await using (var db = new PostgresDistDbContext(new DbContextOptionsBuilder<PostgresDistDbContext>()
            .UseNpgsql(_folder.Engine.Database.ConnectionString, o => o.UseParameterizedCollectionMode(DistDatabase.CollectionParameters)).AddInterceptors(report).Options))
        {
            var jobId = await db.Jobs.Where(j => j.Name == "Deploy").Select(j => j.Id).SingleAsync();
            var moved = await TargetCounts.MoveAsync(db, db.Targets.Where(t => t.JobId == jobId), TargetStates.Predecessors(TargetStatus.Suspended).ToList(),
                TargetStatus.Suspended, s => s.SetProperty(t => t.Message, "Suspended by the test."), default, jobId);
            Assert.Equal(1, moved);
        }

        Assert.Equal(new ReportResponse(true, "Transferring"), crossing);
        Assert.Equal(TargetStatus.Suspended, (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Deploy"))).Single().Status);
        Assert.Equal(["Deploy Suspended=1"], await TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_folder.Engine, "after the suspension"));
    }

    /// <summary>Runs <paramref name="meanwhile"/> (on its own connection) once, right after the first query whose text holds <paramref name="marker"/> read its rows.</summary>
    private sealed class AfterFirstRead(string marker, Func<Task> meanwhile) : DbCommandInterceptor
    {
        private bool _done;

        public override async ValueTask<System.Data.Common.DbDataReader> ReaderExecutedAsync(System.Data.Common.DbCommand command, CommandExecutedEventData eventData,
            System.Data.Common.DbDataReader result, CancellationToken cancellationToken = default)
        {
            if (!_done && command.CommandText.Contains(marker, StringComparison.Ordinal))
            {
                _done = true;
                await meanwhile();
            }
            return result;
        }
    }
}
