using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// Reports that arrive together are recorded together (ReportWrites, through GroupCommit.RunTogetherAsync): each decided by
/// the same rule as one alone, in the order they came, the counts and the inventory kept, and one that cannot be written
/// failing alone.
/// </summary>
public sealed class ReportBatchTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly DistributionService _distribution;

    public ReportBatchTests()
    {
        _distribution = new DistributionService(_folder.Engine, new HostSignals());
        _folder.WriteFile("pkg/setup.sh", "exit 0");
    }

    public void Dispose() => _folder.Dispose();

    /// <summary>
    /// Holds the one writer with a write that waits, so that what <paramref name="queue"/> sends meanwhile is one batch when
    /// it is let go; returns the outcomes of what was queued.
    /// </summary>
    private async Task<IReadOnlyList<Task<T>>> TogetherAsync<T>(Func<IReadOnlyList<Task<T>>> queue)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = Task.Run(() => _folder.Engine.Writes.RunAsync(async _ =>
        {
            holding.SetResult();
            await gate.Task;
            return 0;
        }));
        await holding.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var queued = queue();
        Assert.All(queued, t => Assert.False(t.IsCompleted, "a report was written while the writer was held"));
        gate.SetResult();
        await hold.WaitAsync(TimeSpan.FromSeconds(30));
        try
        {
            await Task.WhenAll(queued).WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (DistException)
        {
            // asserted per report below
        }
        catch (InvalidOperationException)
        {
            // asserted per report below
        }
        return queued;
    }

    private async Task<(Guid Host, WorkItem Item)[]> DispatchedAsync(string job, params string[] hosts)
    {
        var ids = new List<Guid>();
        foreach (var host in hosts)
        {
            ids.Add((await _folder.Engine.Hosts.ListAsync(host)).SingleOrDefault()?.Id ?? (await _folder.RegisterHostAsync(host)).HostId);
        }
        if ((await _folder.Engine.Packages.ListAsync("App")).Count == 0)
        {
            await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        }
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest(job, "App", null, hosts));
        var execution = await _folder.Engine.Jobs.StartAsync(job);
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        var items = new List<(Guid, WorkItem)>();
        foreach (var id in ids)
        {
            items.Add((id, (await _distribution.GetWorkAsync(id, default)).Single(w => w.JobName == job)));
        }
        return [.. items];
    }

    [Fact]
    public async Task Reports_that_arrive_together_are_each_decided_in_their_order_counted_once_and_recorded_in_the_inventory()
    {
        var targets = await DispatchedAsync("Deploy", "pc-a", "pc-b", "pc-c");
        var (a, itemA) = targets[0];
        var (b, itemB) = targets[1];
        var (c, itemC) = targets[2];
        var answers = await TogetherAsync<ReportResponse>(() =>
        [
            _distribution.ReportAsync(a, new ReportRequest(itemA.WorkItemId, "Transferring", BytesTransferred: 400), default),
            _distribution.ReportAsync(a, new ReportRequest(itemA.WorkItemId, "Transferring", BytesTransferred: 100), default), // late progress: bytes stay
            _distribution.ReportAsync(a, new ReportRequest(itemA.WorkItemId, "Succeeded", 0, "done", null, 512), default),
            _distribution.ReportAsync(a, new ReportRequest(itemA.WorkItemId, "Succeeded", 0, "again"), default), // a duplicate: nothing moves
            _distribution.ReportAsync(b, new ReportRequest(itemA.WorkItemId, "Failed", 1, "not b's"), default), // another host's ticket
            _distribution.ReportAsync(b, new ReportRequest(Guid.NewGuid(), "Failed", 1, "no such ticket"), default),
            _distribution.ReportAsync(c, new ReportRequest(itemC.WorkItemId, "Failed", 7, "exit 7"), default),
            _distribution.ReportAsync(c, new ReportRequest(itemC.WorkItemId, "Installing"), default), // after a final state: refused
        ]);

        Assert.Equal(new ReportResponse(true, "Transferring"), await answers[0]);
        Assert.Equal(new ReportResponse(true, "Transferring"), await answers[1]);
        Assert.Equal(new ReportResponse(true, "Succeeded"), await answers[2]);
        Assert.Equal(new ReportResponse(false, "Succeeded"), await answers[3]);
        Assert.Equal("WorkItemNotFound", (await Assert.ThrowsAsync<DistException>(() => answers[4])).ErrorId);
        Assert.Equal("WorkItemNotFound", (await Assert.ThrowsAsync<DistException>(() => answers[5])).ErrorId);
        Assert.Equal(new ReportResponse(true, "Failed"), await answers[6]);
        Assert.Equal(new ReportResponse(false, "Failed"), await answers[7]);

        var status = (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Deploy"))).ToDictionary(s => s.HostName);
        Assert.Equal(TargetStatus.Succeeded, status["pc-a"].Status);
        Assert.Equal("done", status["pc-a"].Message);
        Assert.Equal(512, status["pc-a"].BytesTransferred);
        Assert.NotNull(status["pc-a"].StartedAt);
        Assert.NotNull(status["pc-a"].CompletedAt);
        Assert.Equal(TargetStatus.Queued, status["pc-b"].Status);
        Assert.Equal(TargetStatus.Failed, status["pc-c"].Status);
        Assert.Equal(7, status["pc-c"].ExitCode);
        Assert.Equal(["Deploy Failed=1", "Deploy Queued=1", "Deploy Succeeded=1"], await TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_folder.Engine, "after"));
        var inventory = (await _folder.Engine.Inventory.ListAsync("pc-*")).ToDictionary(i => i.HostName);
        Assert.Equal(["App 1.0"], inventory["pc-a"].Software.Where(s => s.Source == "JP1Dist").Select(s => $"{s.Name} {s.Version}"));
        Assert.DoesNotContain(inventory["pc-c"].Software, s => s.Source == "JP1Dist");
    }

    [PostgreSqlOnlyFact("SQLite runs one writer at a time, so no other transaction can change a target between a batch's read and its update")]
    public async Task A_target_another_writer_changes_between_a_batchs_read_and_its_update_is_decided_from_what_it_is_then()
    {
        var targets = await DispatchedAsync("Deploy", "pc-a", "pc-b", "pc-c");
        // Another writer (a re-execution of pc-a, as a cmdlet on another node would make it) gives pc-a's target a new ticket
        // and holds its row until the batch's update of that target waits for it.
        await using var other = new Npgsql.NpgsqlConnection(_folder.Engine.Database.ConnectionString);
        await other.OpenAsync();
        await using var change = await other.BeginTransactionAsync();
        await using (var retick = new Npgsql.NpgsqlCommand("""UPDATE "Targets" SET "WorkItemId" = @fresh WHERE "WorkItemId" = @ticket""", other, change))
        {
            retick.Parameters.AddWithValue("fresh", Guid.NewGuid());
            retick.Parameters.AddWithValue("ticket", targets[0].Item.WorkItemId);
            Assert.Equal(1, await retick.ExecuteNonQueryAsync());
        }

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = Task.Run(() => _folder.Engine.Writes.RunAsync(async _ =>
        {
            holding.SetResult();
            await gate.Task;
            return 0;
        }));
        await holding.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var answers = targets.Select(t => _distribution.ReportAsync(t.Host, new ReportRequest(t.Item.WorkItemId, "Transferring"), default)).ToList();
        gate.SetResult();
        await hold.WaitAsync(TimeSpan.FromSeconds(30));
        // The batch read pc-a's target with its old ticket; its update now waits for the other writer's row lock.
        await using (var waiting = new Npgsql.NpgsqlConnection(_folder.Engine.Database.ConnectionString))
        {
            await waiting.OpenAsync();
            // A wait on this transaction's row, not any wait on the server (other test classes run beside this one).
            await using var locks = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE @holder = ANY(pg_blocking_pids(pid))", waiting);
            locks.Parameters.AddWithValue("holder", other.ProcessID);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((long)(await locks.ExecuteScalarAsync())! == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the batch's update never waited for the other writer");
                await Task.Delay(20);
            }
        }
        await change.CommitAsync();

        Assert.Equal("WorkItemNotFound", (await Assert.ThrowsAsync<DistException>(() => answers[0]).WaitAsync(TimeSpan.FromSeconds(60))).ErrorId);
        Assert.Equal(new ReportResponse(true, "Transferring"), await answers[1].WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(new ReportResponse(true, "Transferring"), await answers[2].WaitAsync(TimeSpan.FromSeconds(60)));
        var status = (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery("Deploy"))).ToDictionary(s => s.HostName, s => s.Status);
        Assert.Equal([TargetStatus.Queued, TargetStatus.Transferring, TargetStatus.Transferring], new[] { status["pc-a"], status["pc-b"], status["pc-c"] });
        Assert.Equal(["Deploy Queued=1", "Deploy Transferring=2"], await TargetCountCheck.AssertKeptCountsAreTheTargetsAsync(_folder.Engine, "after"));
    }

    [Fact]
    public async Task When_a_batch_cannot_be_written_whole_each_report_is_written_alone_and_only_the_one_at_fault_fails()
    {
        var good = await DispatchedAsync("Good", "pc-a", "pc-b");
        var bad = await DispatchedAsync("Bad", "pc-c");
        // The counts of one job lost: its report cannot be counted, and the batch it came with fails as a whole.
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            var badJob = await db.Jobs.Where(j => j.Name == "Bad").Select(j => j.Id).SingleAsync();
            await db.JobTargetCounts.Where(c => c.JobId == badJob).ExecuteDeleteAsync();
        }
        var answers = await TogetherAsync<ReportResponse>(() =>
        [
            _distribution.ReportAsync(good[0].Host, new ReportRequest(good[0].Item.WorkItemId, "Succeeded", 0), default),
            _distribution.ReportAsync(bad[0].Host, new ReportRequest(bad[0].Item.WorkItemId, "Succeeded", 0), default),
            _distribution.ReportAsync(good[1].Host, new ReportRequest(good[1].Item.WorkItemId, "Failed", 2), default),
        ]);

        Assert.Equal(new ReportResponse(true, "Succeeded"), await answers[0]);
        Assert.Contains("no count row", (await Assert.ThrowsAsync<InvalidOperationException>(() => answers[1])).Message);
        Assert.Equal(new ReportResponse(true, "Failed"), await answers[2]);
        var statuses = (await _folder.Engine.Jobs.GetStatusAsync(new JobStatusQuery())).ToDictionary(s => $"{s.JobName} {s.HostName}", s => s.Status);
        Assert.Equal(TargetStatus.Succeeded, statuses["Good pc-a"]);
        Assert.Equal(TargetStatus.Failed, statuses["Good pc-b"]);
        Assert.Equal(TargetStatus.Queued, statuses["Bad pc-c"]); // undone with its count, nothing half written
        var inventory = (await _folder.Engine.Inventory.ListAsync("pc-*")).ToDictionary(i => i.HostName);
        Assert.Single(inventory["pc-a"].Software, s => s.Source == "JP1Dist");
        Assert.DoesNotContain(inventory["pc-c"].Software, s => s.Source == "JP1Dist");
    }
}
