using System.Diagnostics;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Hosts;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>The manager's side of relays: the host tree, AllLowerClients jobs, TransferToRelay jobs and package expiry.</summary>
public sealed class HierarchyTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly DistributionService _distribution;

    public HierarchyTests()
    {
        _distribution = new DistributionService(_folder.Engine, new HostSignals());
        _folder.WriteFile("pkg/setup.sh", "exit 0");
    }

    private JP1Dist.Core.DistEngine Engine => _folder.Engine;

    /// <summary>The credential each registered name holds: a host registers again (and moves) only with it.</summary>
    private readonly Dictionary<string, RegisterResponse> _held = new(StringComparer.OrdinalIgnoreCase);

    private async Task<Guid> RegisterAsync(string name, Guid? parent = null, string? kind = null)
    {
        var relay = string.Equals(kind, "Relay", StringComparison.OrdinalIgnoreCase);
        var token = await Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("test", Relay: relay));
        _held.TryGetValue(name, out var held);
        var response = await Engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, name, "Linux", "6.1", "X64", ["10.0.0.1"], null, "1.0")
        {
            Kind = kind,
            RelayUrl = relay ? $"http://{name}:22401" : null,
            HostId = held?.HostId,
            Credential = held?.Credential,
        }, parent);
        _held[name] = response;
        return response.HostId;
    }

    /// <summary>manager ─ r1 ─ r2 ─ c3; r1 ─ c1, c2; manager ─ c0, r9 (a relay with nobody below).</summary>
    private async Task<Dictionary<string, Guid>> TreeAsync()
    {
        var ids = new Dictionary<string, Guid>
        {
            ["r1"] = await RegisterAsync("r1", kind: "Relay"),
            ["c0"] = await RegisterAsync("c0"),
            ["r9"] = await RegisterAsync("r9", kind: "relay"),
        };
        ids["r2"] = await RegisterAsync("r2", ids["r1"], "Relay");
        ids["c2"] = await RegisterAsync("c2", ids["r1"], "Client");
        ids["c1"] = await RegisterAsync("c1", ids["r1"]);
        ids["c3"] = await RegisterAsync("c3", ids["r2"]);
        return ids;
    }

    private Task<DistPackage> PackageAsync(DateTime? expiresAt = null) =>
        Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh", ExpiresAt: expiresAt));

    private async Task<Dictionary<string, DistJobStatus>> StatusAsync(string job) =>
        (await Engine.Jobs.GetStatusAsync(new JobStatusQuery(job))).ToDictionary(s => s.HostName);

    [Fact]
    public async Task Registration_records_kind_parent_and_url_and_lists_the_tree_depth_first()
    {
        var ids = await TreeAsync();
        var hosts = await Engine.Hosts.ListAsync();
        Assert.Equal(["c0", "r1", "c1", "c2", "r2", "c3", "r9"], hosts.Select(h => h.Name));
        Assert.Equal([0, 0, 1, 1, 1, 2, 0], hosts.Select(h => h.Depth));
        var r2 = hosts.Single(h => h.Name == "r2");
        Assert.Equal(HostKind.Relay, r2.Kind);
        Assert.Equal("r1", r2.HigherSystem);
        Assert.Equal(ids["r1"], r2.HigherSystemId);
        Assert.Equal("http://r2:22401", r2.RelayUrl);
        var c0 = hosts.Single(h => h.Name == "c0");
        Assert.Equal((HostKind.Client, DistHost.ManagerHigherSystem, (Guid?)null), (c0.Kind, c0.HigherSystem, c0.HigherSystemId));

        Assert.Equal(["c1", "c2", "r2"], (await Engine.Hosts.ListAsync(new HostQuery(HigherSystem: "R1"))).Select(h => h.Name));
        Assert.Equal(["c1", "c2", "r2", "c3"], (await Engine.Hosts.ListAsync(new HostQuery(HigherSystem: "r1", Recurse: true))).Select(h => h.Name));
        Assert.Equal(["c1", "c2", "c3"], (await Engine.Hosts.ListAsync(new HostQuery("c*", "r1", Recurse: true))).Select(h => h.Name));
        Assert.Empty(await Engine.Hosts.ListAsync(new HostQuery(HigherSystem: "r9")));
        Assert.Equal("HostNotFound", (await Assert.ThrowsAsync<DistException>(() => Engine.Hosts.ListAsync(new HostQuery(HigherSystem: "nobody")))).ErrorId);
        Assert.Equal("HostNotRelay", (await Assert.ThrowsAsync<DistException>(() => Engine.Hosts.ListAsync(new HostQuery(HigherSystem: "c1")))).ErrorId);
    }

    [Fact]
    public async Task HostTree_finds_every_level_below_a_relay()
    {
        var ids = await TreeAsync();
        await using var db = Engine.Database.CreateContext();
        Assert.Equal(new[] { "c1", "c2", "r2", "c3" }.Select(n => ids[n]).ToHashSet(), await HostTree.DescendantsAsync(db, ids["r1"], default));
        Assert.Equal([ids["c3"]], await HostTree.DescendantsAsync(db, ids["r2"], default));
        Assert.Empty(await HostTree.DescendantsAsync(db, ids["c0"], default));
        Assert.True(await HostTree.IsAtOrBelowAsync(db, ids["c3"], ids["r1"], default));
        Assert.True(await HostTree.IsAtOrBelowAsync(db, ids["r1"], ids["r1"], default));
        Assert.False(await HostTree.IsAtOrBelowAsync(db, ids["r1"], ids["r2"], default));
        Assert.False(await HostTree.IsAtOrBelowAsync(db, ids["c0"], ids["r1"], default));
    }

    [Fact]
    public async Task HostTree_ends_on_a_cycle_made_by_hand_in_the_database()
    {
        var ids = await TreeAsync();
        await using var db = Engine.Database.CreateContext();
        // r1 put below its own lower host c3, which registration refuses, so only an edit of the database can do it.
        await db.Hosts.Where(h => h.Id == ids["r1"]).ExecuteUpdateAsync(s => s.SetProperty(h => h.ParentHostId, ids["c3"]));

        Assert.Equal(new[] { "c1", "c2", "r2", "c3" }.Select(n => ids[n]).ToHashSet(), await HostTree.DescendantsAsync(db, ids["r1"], default));
    }

    [Fact]
    public async Task HostTree_walks_ten_thousand_hosts_from_one_query()
    {
        var root = await RegisterAsync("root", kind: "Relay");
        await using (var db = Engine.Database.CreateContext())
        {
            // 100 relays under the root, 99 clients under each: 10,000 hosts below it.
            var rows = new List<HostRow>();
            for (var r = 0; r < 100; r++)
            {
                var relay = new HostRow { Id = Guid.NewGuid(), Name = $"relay{r}", NameKey = $"relay{r}", CredentialHash = "", Kind = HostKind.Relay, ParentHostId = root };
                rows.Add(relay);
                rows.AddRange(Enumerable.Range(0, 99).Select(c => new HostRow { Id = Guid.NewGuid(), Name = $"pc{r}-{c}", NameKey = $"pc{r}-{c}", CredentialHash = "", ParentHostId = relay.Id }));
            }
            db.Hosts.AddRange(rows);
            await db.SaveChangesAsync();
        }
        await using var read = Engine.Database.CreateContext();
        var watch = Stopwatch.StartNew();
        var below = await HostTree.DescendantsAsync(read, root, default);
        watch.Stop();
        Assert.Equal(10_000, below.Count);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Registration_refuses_a_bad_kind_a_non_relay_parent_and_cycles_and_changes_nothing()
    {
        var ids = await TreeAsync();
        var before = await Engine.Hosts.ListAsync();

        Assert.Equal("HostKindInvalid", (await Assert.ThrowsAsync<DistException>(() => RegisterAsync("new", kind: "Router"))).ErrorId);
        Assert.Equal("HigherSystemInvalid", (await Assert.ThrowsAsync<DistException>(() => RegisterAsync("new", ids["c1"]))).ErrorId);
        Assert.Equal("HigherSystemInvalid", (await Assert.ThrowsAsync<DistException>(() => RegisterAsync("new", Guid.NewGuid()))).ErrorId);
        // r1 cannot move under itself, nor under r2 or below (r2 is below r1).
        Assert.Equal("HigherSystemInvalid", (await Assert.ThrowsAsync<DistException>(() => RegisterAsync("r1", ids["r1"], "Relay"))).ErrorId);
        var cycle = await Assert.ThrowsAsync<DistException>(() => RegisterAsync("r1", ids["r2"], "Relay"));
        Assert.Equal("HigherSystemInvalid", cycle.ErrorId);
        Assert.Contains("cycle", cycle.Message, StringComparison.Ordinal);
        // A relay with hosts below it stays a relay.
        Assert.Equal("HostKindInvalid", (await Assert.ThrowsAsync<DistException>(() => RegisterAsync("r2", ids["r1"], "Client"))).ErrorId);
        Assert.Equal(before.Select(h => (h.Name, h.Kind, h.HigherSystemId)), (await Engine.Hosts.ListAsync()).Select(h => (h.Name, h.Kind, h.HigherSystemId)));

        // A re-registration moves the host: r2 (with c3) goes directly under the manager, then under r9.
        Assert.Equal(ids["r2"], await RegisterAsync("r2", null, "Relay"));
        Assert.Equal(DistHost.ManagerHigherSystem, (await Engine.Hosts.ListAsync("r2")).Single().HigherSystem);
        await RegisterAsync("r2", ids["r9"], "Relay");
        Assert.Equal(["r2", "c3"], (await Engine.Hosts.ListAsync(new HostQuery(HigherSystem: "r9", Recurse: true))).Select(h => h.Name));
    }

    [Fact]
    public async Task Removing_a_relay_moves_its_lower_hosts_up()
    {
        var ids = await TreeAsync();
        await Engine.Hosts.RemoveAsync("r2", force: false);
        var c3 = (await Engine.Hosts.ListAsync("c3")).Single();
        Assert.Equal(("r1", ids["r1"], 1), (c3.HigherSystem, c3.HigherSystemId, c3.Depth));
    }

    [Fact]
    public async Task AllLowerClients_reaches_every_host_below_once_including_lower_relays_and_picks_up_new_hosts_on_re_execution()
    {
        var ids = await TreeAsync();
        await PackageAsync();
        Assert.Equal("HostNotRelay", (await Assert.ThrowsAsync<DistException>(() =>
            Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["r1", "c0"], DestinationType: DestinationType.AllLowerClients)))).ErrorId);
        Assert.Equal("HostNotFound", (await Assert.ThrowsAsync<DistException>(() =>
            Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["r1", "nobody"], DestinationType: DestinationType.AllLowerClients)))).ErrorId);
        Assert.Empty(await Engine.Jobs.ListAsync());

        // r2 is named as well as below r1: its hosts are reached once.
        var job = await Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["r1", "r2"], DestinationType: DestinationType.AllLowerClients));
        Assert.Equal(DestinationType.AllLowerClients, job.DestinationType);
        Assert.Equal(["r1", "r2"], job.Destinations);
        var execution = await Engine.Jobs.StartAsync("J");
        Assert.Equal(["c1", "c2", "c3", "r2"], execution.HostNames);
        Assert.Equal(["c1", "c2", "c3", "r2"], (await StatusAsync("J")).Keys.Order());

        // A host that registers under the relay later is not added by itself; the next execution reaches it.
        await RegisterAsync("c4", ids["r2"]);
        Assert.Equal(4, (await StatusAsync("J")).Count);
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        foreach (var name in new[] { "c1", "c2", "c3", "r2" })
        {
            var item = (await _distribution.GetWorkAsync(ids[name], default)).Single();
            await _distribution.ReportAsync(ids[name], new ReportRequest(item.WorkItemId, "Succeeded", 0), default);
        }
        Assert.Equal(["c4"], (await Engine.Jobs.StartAsync("J")).HostNames.Where(n => n == "c4"));
        Assert.Equal(5, (await StatusAsync("J")).Count);

        await Engine.Jobs.CreateAsync(new NewJobRequest("Empty", "App", null, ["r9"], DestinationType: DestinationType.AllLowerClients));
        Assert.Equal("NoLowerClients", (await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.StartAsync("Empty"))).ErrorId);
    }

    [Fact]
    public async Task TransferToRelay_jobs_accept_relays_only_and_no_install_settings()
    {
        await TreeAsync();
        await PackageAsync();
        await Engine.HostGroups.CreateAsync("Clients", null);
        await Engine.HostGroups.AddMembersAsync("Clients", ["c0", "c1"], null);
        await Engine.HostGroups.CreateAsync("Mixed", null);
        await Engine.HostGroups.AddMembersAsync("Mixed", ["c0", "r9"], null);
        await Engine.IdGroups.CreateAsync("Ids", null);

        async Task<string> RefusedAsync(NewJobRequest request) => (await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.CreateAsync(request))).ErrorId;
        Assert.Equal("HostNotRelay", await RefusedAsync(new NewJobRequest("T", "App", null, ["r1", "c0"], JobType.TransferToRelay)));
        Assert.Equal("HostGroupHasNoRelay", await RefusedAsync(new NewJobRequest("T", "App", null, ["Mixed", "Clients"], JobType.TransferToRelay, DestinationType: DestinationType.HostGroup)));
        Assert.Equal("DestinationTypeInvalid", await RefusedAsync(new NewJobRequest("T", "App", null, ["Ids"], JobType.TransferToRelay, DestinationType: DestinationType.IdGroup)));
        Assert.Equal("InstallSettingNotForTransfer", await RefusedAsync(new NewJobRequest("T", "App", null, ["r1"], JobType.TransferToRelay, InstallAt: DateTime.Now.AddDays(1))));
        Assert.Equal("InstallSettingNotForTransfer", await RefusedAsync(new NewJobRequest("T", "App", null, ["r1"], JobType.TransferToRelay,
            InstallConditions: new InstallConditions { MinMemoryMB = 1 })));
        Assert.Equal("JobTypeNotSupported", await RefusedAsync(new NewJobRequest("T", "App", null, ["r1"], (JobType)7)));
        Assert.Empty(await Engine.Jobs.ListAsync());

        // Only the relays among a group's hosts, and among the hosts below a relay, become targets.
        await Engine.Jobs.CreateAsync(new NewJobRequest("ToGroup", "App", null, ["Mixed"], JobType.TransferToRelay, DestinationType: DestinationType.HostGroup));
        Assert.Equal(["r9"], (await Engine.Jobs.StartAsync("ToGroup")).HostNames);
        await Engine.Jobs.CreateAsync(new NewJobRequest("Below", "App", null, ["r1"], JobType.TransferToRelay, DestinationType: DestinationType.AllLowerClients));
        Assert.Equal(["r2"], (await Engine.Jobs.StartAsync("Below")).HostNames);
        await Engine.Jobs.CreateAsync(new NewJobRequest("BelowR2", "App", null, ["r2"], JobType.TransferToRelay, DestinationType: DestinationType.AllLowerClients));
        Assert.Equal("NoLowerClients", (await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.StartAsync("BelowR2"))).ErrorId);
    }

    [Fact]
    public async Task A_transfer_to_relays_is_not_held_to_the_packages_install_conditions()
    {
        var ids = await TreeAsync();
        // The relays are Linux: an install of this package would be ConditionNotMet there, a transfer stores it.
        await Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh",
            InstallConditions: new InstallConditions { OS = ["Windows"] }));
        await Engine.Jobs.CreateAsync(new NewJobRequest("Install", "App", null, ["r9"]));
        Assert.Equal(0, await _distribution.DispatchAsync((await Engine.Jobs.StartAsync("Install")).ExecutionId, default));
        Assert.Equal(TargetStatus.ConditionNotMet, (await StatusAsync("Install"))["r9"].Status);

        await Engine.Jobs.CreateAsync(new NewJobRequest("Store", "App", null, ["r9"], JobType.TransferToRelay));
        Assert.Equal(1, await _distribution.DispatchAsync((await Engine.Jobs.StartAsync("Store")).ExecutionId, default));
        Assert.Equal(TargetStatus.Queued, (await StatusAsync("Store"))["r9"].Status);
        var item = (await _distribution.GetWorkAsync(ids["r9"], default)).Single();
        Assert.Null(JsonSerializer.Deserialize<JobSettings>(item.JobSettings!, ProtocolJson.Options)!.InstallConditions);
    }

    [Fact]
    public async Task A_relay_that_holds_the_package_is_not_sent_it_again_until_the_expiry_changes()
    {
        var ids = await TreeAsync();
        var expiry = DateTime.Now.AddDays(30);
        await PackageAsync(expiry);
        expiry = StoredTime.Of(expiry).ToLocalTime(); // times are kept to the microsecond
        await Engine.Jobs.CreateAsync(new NewJobRequest("Store", "App", null, ["r1", "r2"], JobType.TransferToRelay));
        var first = await Engine.Jobs.StartAsync("Store");
        Assert.Equal(2, await _distribution.DispatchAsync(first.ExecutionId, default));

        // The relay is told the expiry through the signed settings, and reports the package stored.
        var item = (await _distribution.GetWorkAsync(ids["r1"], default)).Single();
        var settings = JsonSerializer.Deserialize<JobSettings>(item.JobSettings!, ProtocolJson.Options)!;
        Assert.True(JP1Dist.Protocol.Signing.ManifestSigner.Verify(Engine.Signer.PublicKey, item.JobSettings!, item.JobSettingsSignature!));
        Assert.Equal("TransferToRelay", settings.JobType);
        Assert.Equal(expiry.ToUniversalTime(), settings.StoreUntil);
        Assert.Null(settings.InstallConditions);
        Assert.Null(settings.InstallAt);
        Assert.True((await _distribution.ReportAsync(ids["r1"], new ReportRequest(item.WorkItemId, "Transferring"), default)).Accepted);
        Assert.True((await _distribution.ReportAsync(ids["r1"], new ReportRequest(item.WorkItemId, "StoredOnRelay", Message: "stored"), default)).Accepted);
        var stored = (await StatusAsync("Store"))["r1"];
        Assert.Equal(TargetStatus.StoredOnRelay, stored.Status);
        Assert.Equal(expiry, stored.StoredUntil);
        Assert.Equal(DateTimeKind.Local, stored.StoredUntil!.Value.Kind);

        // Another transfer job for the same package: r1 already holds it, r2 (still queued in Store) is sent it.
        await Engine.Jobs.CreateAsync(new NewJobRequest("Again", "App", null, ["r1", "r2"], JobType.TransferToRelay));
        var again = await Engine.Jobs.StartAsync("Again");
        Assert.Equal(1, await _distribution.DispatchAsync(again.ExecutionId, default));
        var skipped = (await StatusAsync("Again"))["r1"];
        Assert.Equal(TargetStatus.StoredOnRelay, skipped.Status);
        Assert.Equal(expiry, skipped.StoredUntil);
        Assert.StartsWith("Already stored on the relay until", skipped.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(await _distribution.GetWorkAsync(ids["r1"], default), w => w.JobName == "Again");
        Assert.Equal(TargetStatus.Queued, (await StatusAsync("Again"))["r2"].Status);

        // Executing Store again: r1 holds it, so only r2 (finished first) would go; with every relay holding it, nothing goes.
        var r2Items = await _distribution.GetWorkAsync(ids["r2"], default);
        foreach (var r2Item in r2Items)
        {
            await _distribution.ReportAsync(ids["r2"], new ReportRequest(r2Item.WorkItemId, "StoredOnRelay"), default);
        }
        Assert.Equal("AlreadyStoredOnRelays", (await Assert.ThrowsAsync<DistException>(() => Engine.Jobs.StartAsync("Store"))).ErrorId);

        // A changed expiry is sent again; the relay replaces its copy's expiry.
        var later = expiry.AddDays(30);
        Assert.Equal(later, (await Engine.Packages.SetExpiryAsync("App", "1.0", later)).ExpiresAt);
        var resend = await Engine.Jobs.StartAsync("Store");
        Assert.Equal(2, resend.TargetCount);
        Assert.Equal(2, await _distribution.DispatchAsync(resend.ExecutionId, default));
        var renewed = (await _distribution.GetWorkAsync(ids["r1"], default)).Single(w => w.JobName == "Store");
        Assert.Equal(later.ToUniversalTime(), JsonSerializer.Deserialize<JobSettings>(renewed.JobSettings!, ProtocolJson.Options)!.StoreUntil);
        await _distribution.ReportAsync(ids["r1"], new ReportRequest(renewed.WorkItemId, "StoredOnRelay"), default);
        Assert.Equal(later, (await StatusAsync("Store"))["r1"].StoredUntil);
    }

    [Fact]
    public async Task StoredOnRelay_is_refused_for_an_install_target()
    {
        var ids = await TreeAsync();
        await PackageAsync();
        await Engine.Jobs.CreateAsync(new NewJobRequest("Install", "App", null, ["r1"]));
        var execution = await Engine.Jobs.StartAsync("Install");
        await _distribution.DispatchAsync(execution.ExecutionId, default);
        var item = (await _distribution.GetWorkAsync(ids["r1"], default)).Single();
        var error = await Assert.ThrowsAsync<DistException>(() => _distribution.ReportAsync(ids["r1"], new ReportRequest(item.WorkItemId, "StoredOnRelay"), default));
        Assert.Equal("ReportStatusInvalid", error.ErrorId);
        Assert.Contains("Install", error.Message, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Queued, (await StatusAsync("Install"))["r1"].Status);
    }

    [Fact]
    public async Task Package_expiry_must_lie_in_the_future_and_can_be_changed_or_cleared()
    {
        var past = await Assert.ThrowsAsync<DistException>(() => PackageAsync(DateTime.Now.AddMinutes(-1)));
        Assert.Equal("ExpiresAtInPast", past.ErrorId);
        Assert.Empty(await Engine.Packages.ListAsync());
        var expiry = DateTime.Now.AddDays(7);
        var package = await PackageAsync(expiry);
        expiry = StoredTime.Of(expiry).ToLocalTime(); // times are kept to the microsecond
        Assert.Equal(expiry, package.ExpiresAt);
        Assert.Equal("ExpiresAtInPast", (await Assert.ThrowsAsync<DistException>(() => Engine.Packages.SetExpiryAsync("App", "1.0", DateTime.Now.AddDays(-1)))).ErrorId);
        Assert.Equal(expiry, (await Engine.Packages.ListAsync()).Single().ExpiresAt);
        Assert.Null((await Engine.Packages.SetExpiryAsync("app", "1.0", null)).ExpiresAt);
        Assert.Equal("PackageNotFound", (await Assert.ThrowsAsync<DistException>(() => Engine.Packages.SetExpiryAsync("App", "2.0", null))).ErrorId);
        // The expiry is a management attribute: the signed manifest does not carry it.
        await using var db = Engine.Database.CreateContext();
        Assert.DoesNotContain("expiresAt", (await db.Packages.SingleAsync()).ManifestJson, StringComparison.OrdinalIgnoreCase);
    }

    public void Dispose() => _folder.Dispose();
}
