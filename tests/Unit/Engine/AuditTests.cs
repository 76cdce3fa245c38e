using System.Data.Common;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Security;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Tests.Agent;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// The audit log: every change through the services writes one entry (who, from where, operation, target, parameters) in
/// the change's transaction, never a secret; a change that fails writes none; nothing can change or delete an entry; and
/// Get-DistAuditLog's filters.
/// </summary>
public sealed class AuditTests : IDisposable
{
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero));
    private readonly TestFolder _folder;

    public AuditTests() => _folder = new TestFolder(_time);

    private async Task<List<AuditEntryRow>> EntriesAfterAsync(long id)
    {
        await using var db = _folder.Engine.Database.CreateContext();
        return await db.AuditEntries.AsNoTracking().Where(a => a.Id > id).OrderBy(a => a.Id).ToListAsync();
    }

    private async Task<long> LastIdAsync()
    {
        await using var db = _folder.Engine.Database.CreateContext();
        return await db.AuditEntries.MaxAsync(a => (long?)a.Id) ?? 0;
    }

    /// <summary>The newest entry of the operation (the preparation makes tokens too).</summary>
    private async Task<DistAuditEntry> EntryOfAsync(string operation) =>
        Assert.Single(await _folder.Engine.Audit.ListAsync(new AuditQuery(Operation: operation, First: 1)));

    private static JsonElement Parameters(DistAuditEntry entry) => JsonDocument.Parse(entry.Parameters).RootElement;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_change_writes_one_entry_naming_the_caller_the_operation_and_the_target(bool remote)
    {
        var scenario = new ChangeScenario(_folder);
        await scenario.PrepareAsync();
        var caller = remote ? new DistCaller("deploy-admin", "192.0.2.10", DistRole.Administrator) : DistCaller.Local;
        var services = remote ? _folder.Engine.As(caller) : _folder.Engine;
        var changes = scenario.Changes();
        foreach (var change in changes)
        {
            var before = await LastIdAsync();
            await change.Act(services);
            var entry = Assert.Single(await EntriesAfterAsync(before));
            Assert.Equal((change.Operation, caller.Principal, caller.Source, AuditOutcome.Succeeded), (entry.Operation, entry.Principal, entry.Source, entry.Outcome));
            Assert.Equal(_time.Now.UtcDateTime, entry.At);
            if (change.Target == "*")
            {
                Assert.NotEmpty(entry.Target);
            }
            else
            {
                Assert.Equal(change.Target, entry.Target);
            }
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(entry.ParametersJson).RootElement.ValueKind);
        }

        // The sweep: the scenario makes every change the role table knows (the manager process's start and stop aside).
        var changing = DistOperations.RequiredRoles.Where(r => r.Value > DistRole.Reader).Select(r => r.Key);
        Assert.Equal(changing.Order(StringComparer.Ordinal), changes.Select(c => c.Operation).Concat(ChangeScenario.ProcessOperations).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Entries_carry_the_parameters_of_each_change()
    {
        var scenario = new ChangeScenario(_folder);
        await scenario.PrepareAsync();
        foreach (var change in scenario.Changes())
        {
            await change.Act(_folder.Engine);
        }

        var job = Parameters(await EntryOfAsync(DistOperations.NewJob));
        Assert.Equal(["pc-a", "pc-b"], job.GetProperty("Destinations").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal(("App", "rollout", "Install"), (job.GetProperty("PackageName").GetString(), job.GetProperty("Description").GetString(), job.GetProperty("Type").GetString()));
        Assert.False(job.TryGetProperty("DistributeAt", out _)); // what was not given is left out
        Assert.Equal(["pc-a"], Parameters(await EntryOfAsync(DistOperations.RestartJob)).GetProperty("Host").EnumerateArray().Select(h => h.GetString()));
        Assert.Equal(1, Parameters(await EntryOfAsync(DistOperations.SuspendJob)).GetProperty("Changed").GetInt32());
        var removed = Parameters(await EntryOfAsync(DistOperations.RemoveHost));
        Assert.True(removed.GetProperty("Revoke").GetBoolean());
        Assert.False(removed.GetProperty("Force").GetBoolean());
        Assert.Equal("NEW-*", Parameters(await EntryOfAsync(DistOperations.SetIdGroupPolicy)).GetProperty("Rule")[0].GetProperty("HostName")[0].GetString());
        Assert.Equal(["pc-a", "pc-b"], Parameters(await EntryOfAsync(DistOperations.AddHostGroupMember)).GetProperty("Host").EnumerateArray().Select(h => h.GetString()));
        var token = await EntryOfAsync(DistOperations.NewEnrollmentToken);
        Assert.Equal(5, Parameters(token).GetProperty("MaxUses").GetInt32());
        Assert.Equal(token.Target, (await EntryOfAsync(DistOperations.RemoveEnrollmentToken)).Target); // the token by its id
        Assert.True(int.TryParse(token.Target, out _));
        var rotation = await EntryOfAsync(DistOperations.UpdateSigningKey);
        var keys = await _folder.Engine.SigningKeys.ListAsync();
        Assert.Equal((keys[0].Fingerprint, keys[1].Fingerprint), (rotation.Target, Parameters(rotation).GetProperty("Replaced").GetString()));
        var accessKey = Parameters(await EntryOfAsync(DistOperations.NewAccessKey));
        Assert.Equal(("Operator", 16), (accessKey.GetProperty("Role").GetString(), accessKey.GetProperty("KeyId").GetString()!.Length));
        var package = Parameters(await EntryOfAsync(DistOperations.NewPackage));
        Assert.Equal(("App", "1.0", "setup.sh"), (package.GetProperty("Name").GetString(), package.GetProperty("Version").GetString(), package.GetProperty("InstallCommand").GetString()));
    }

    [Fact]
    public async Task No_entry_holds_a_secret()
    {
        var scenario = new ChangeScenario(_folder);
        await scenario.PrepareAsync();
        foreach (var change in scenario.Changes())
        {
            await change.Act(_folder.Engine);
        }
        await using var db = _folder.Engine.Database.CreateContext();
        var stored = await db.AuditEntries.AsNoTracking().Select(a => a.Principal + "|" + a.Source + "|" + a.Operation + "|" + a.Target + "|" + a.ParametersJson).ToListAsync();
        // Hashes are not secrets, but they identify credentials and have no business in the log either.
        var hashes = await db.AccessKeys.Select(k => k.SecretHash).Concat(db.EnrollmentTokens.Select(t => t.TokenHash)).Concat(db.Hosts.Select(h => h.CredentialHash)).ToListAsync();
        Assert.True(scenario.Secrets.Count >= 10);
        Assert.All(scenario.Secrets.Concat(hashes), secret => Assert.DoesNotContain(stored, s => s.Contains(secret, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_refused_change_writes_nothing()
    {
        var scenario = new ChangeScenario(_folder);
        await scenario.PrepareAsync();
        var changes = scenario.Changes();
        await changes[0].Act(_folder.Engine); // the package
        var before = await LastIdAsync();

        var engine = _folder.Engine;
        await Assert.ThrowsAsync<DistException>(() => engine.Jobs.CreateAsync(new NewJobRequest("J", "Nothing", null, ["pc-a"])));
        await Assert.ThrowsAsync<DistException>(() => engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["nobody"])));
        await Assert.ThrowsAsync<DistException>(() => engine.Hosts.RemoveAsync("nobody", force: false, revoke: true));
        await Assert.ThrowsAsync<DistException>(() => engine.HostGroups.AddMembersAsync("nothing", ["pc-a"], null));
        await Assert.ThrowsAsync<DistException>(() => engine.IdGroups.SetPolicyAsync("nothing", []));
        await Assert.ThrowsAsync<DistException>(() => engine.Packages.SetExpiryAsync("App", "1.0", _time.Now.AddDays(-1).LocalDateTime));
        await Assert.ThrowsAsync<DistException>(() => engine.SigningKeys.RotateAsync(TimeSpan.Zero));
        await Assert.ThrowsAsync<DistException>(() => engine.Hosts.RemoveEnrollmentTokenAsync(999));
        await engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["pc-a"]));
        await engine.Jobs.StartAsync("J");
        var busy = await Assert.ThrowsAsync<DistException>(() => engine.Packages.RemoveAsync("App", "1.0", force: false));
        Assert.Equal("PackageInUse", busy.ErrorId);
        var nothing = await Assert.ThrowsAsync<DistException>(() => engine.Jobs.ControlAsync("J", null, JobControlAction.Resume));
        Assert.Equal("NothingToResume", nothing.ErrorId);

        Assert.Equal([DistOperations.NewJob, DistOperations.StartJob], (await EntriesAfterAsync(before)).Select(e => e.Operation));
    }

    [Fact]
    public async Task A_change_that_fails_after_its_entry_was_added_leaves_neither_the_change_nor_the_entry()
    {
        var scenario = new ChangeScenario(_folder);
        await scenario.PrepareAsync();
        var changes = scenario.Changes();
        await changes[0].Act(_folder.Engine);
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["pc-a", "pc-b"]));
        var before = await LastIdAsync();
        // Executing saves the job's counters with its entry, then writes the targets: a fault there (a full disk, say) rolls
        // back the entry with the rest.
        await ExecuteSqlAsync(TestDatabase.FailInsertsInto("Targets", "disk full"));
        await Assert.ThrowsAnyAsync<DbException>(() => _folder.Engine.Jobs.StartAsync("J"));
        Assert.Empty(await EntriesAfterAsync(before));
        Assert.Equal(0, (await _folder.Engine.Jobs.ListAsync("J")).Single().ExecutionCount);

        await ExecuteSqlAsync(TestDatabase.StopFailingInserts("Targets"));
        await ExecuteSqlAsync(TestDatabase.FailInsertsInto("HostGroups", "disk full"));
        await Assert.ThrowsAnyAsync<Exception>(() => _folder.Engine.HostGroups.CreateAsync("G", null));
        Assert.Empty(await EntriesAfterAsync(before));
        Assert.Empty(await _folder.Engine.HostGroups.ListAsync());
    }

    private async Task ExecuteSqlAsync(string sql)
    {
        await using var db = _folder.Engine.Database.CreateContext();
        await db.Database.ExecuteSqlRawAsync(sql);
    }

    [Fact]
    public async Task Nothing_changes_or_deletes_an_entry()
    {
        await _folder.Engine.HostGroups.CreateAsync("G", null);
        var entries = await _folder.Engine.Audit.ListAsync(new AuditQuery());
        Assert.Single(entries);

        // No service offers it: the audit service reads, nothing else.
        Assert.All(typeof(IAuditService).GetMethods(), m => Assert.StartsWith("List", m.Name, StringComparison.Ordinal));
        // And the database refuses it, whatever code asks.
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            var update = await Assert.ThrowsAnyAsync<DbException>(() => db.AuditEntries.ExecuteUpdateAsync(s => s.SetProperty(a => a.Principal, "someone else")));
            Assert.Contains("append-only", update.Message, StringComparison.Ordinal);
            await Assert.ThrowsAnyAsync<DbException>(() => db.AuditEntries.ExecuteDeleteAsync());
            await Assert.ThrowsAnyAsync<DbException>(() => db.Database.ExecuteSqlRawAsync("DELETE FROM \"AuditEntries\""));
        }
        Assert.Equal(entries, await _folder.Engine.Audit.ListAsync(new AuditQuery()));
    }

    [Fact]
    public async Task The_log_reads_newest_first_filtered_by_time_principal_operation_and_target_within_its_bound()
    {
        var engine = _folder.Engine;
        var start = _time.Now;
        var alice = engine.As(new DistCaller("alice", "192.0.2.1", DistRole.Administrator));
        var bob = engine.As(new DistCaller("bob", "192.0.2.2", DistRole.Administrator));
        await alice.HostGroups.CreateAsync("Sales", null);
        _time.Now = start.AddMinutes(10);
        await bob.HostGroups.CreateAsync("Support", null);
        await bob.IdGroups.CreateAsync("ID_SALES", null);
        _time.Now = start.AddMinutes(20);
        await engine.HostGroups.RemoveAsync("Support");

        var all = await engine.Audit.ListAsync(new AuditQuery());
        Assert.Equal(["Support", "ID_SALES", "Support", "Sales"], all.Select(e => e.Target));
        Assert.Equal([DistCaller.Local.Principal, "bob", "bob", "alice"], all.Select(e => e.Principal));
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Id > p.Second.Id));
        Assert.Equal(start.AddMinutes(20).LocalDateTime, all[0].Time);
        Assert.Equal(DistCaller.LocalSource, all[0].Source);
        Assert.Equal("192.0.2.2", all[1].Source);

        Assert.Equal(["Support", "ID_SALES", "Support"], (await engine.Audit.ListAsync(new AuditQuery(Since: start.AddMinutes(10).LocalDateTime))).Select(e => e.Target));
        Assert.Equal(["ID_SALES", "Support"], (await engine.Audit.ListAsync(new AuditQuery(Principal: "BOB"))).Select(e => e.Target));
        Assert.Equal(["Sales"], (await engine.Audit.ListAsync(new AuditQuery(Principal: "a*"))).Select(e => e.Target));
        Assert.Equal(["Support", "Sales"], (await engine.Audit.ListAsync(new AuditQuery(Operation: "New-DistHost*"))).Select(e => e.Target));
        Assert.Equal(["Support", "Support"], (await engine.Audit.ListAsync(new AuditQuery(Target: "Supp*"))).Select(e => e.Target));
        Assert.Equal(["Support"], (await engine.Audit.ListAsync(new AuditQuery(Principal: "bob", Operation: "*HostGroup", Target: "S*"))).Select(e => e.Target));
        Assert.Equal(["Support", "ID_SALES"], (await engine.Audit.ListAsync(new AuditQuery(First: 2))).Select(e => e.Target));
        Assert.Equal(["ID_SALES"], (await engine.Audit.ListAsync(new AuditQuery(Principal: "bob", First: 1))).Select(e => e.Target));
        Assert.Empty(await engine.Audit.ListAsync(new AuditQuery(Since: start.AddMinutes(21).LocalDateTime)));

        foreach (var first in new[] { 0, -1, AuditQuery.MaxFirst + 1 })
        {
            var refused = await Assert.ThrowsAsync<DistException>(() => engine.Audit.ListAsync(new AuditQuery(First: first)));
            Assert.Equal(("AuditFirstInvalid", DistErrorKind.InvalidArgument), (refused.ErrorId, refused.Kind));
        }
        var pattern = await Assert.ThrowsAsync<DistException>(() => engine.Audit.ListAsync(new AuditQuery(Principal: "[bob")));
        Assert.Equal("WildcardPatternInvalid", pattern.ErrorId);
    }

    public void Dispose() => _folder.Dispose();
}
