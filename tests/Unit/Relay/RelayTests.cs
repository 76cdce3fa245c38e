using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Protocol;
using JP1Dist.Tests.Agent;
using Xunit;

namespace JP1Dist.Tests.Relay;

/// <summary>
/// Relays through the real pieces: a manager, relays and agents talking HTTP on 127.0.0.1, each relay with its own
/// SQLite store and package cache.
/// </summary>
public sealed class RelayTests : IAsyncLifetime
{
    private RelayHarness _h = null!;

    public async Task InitializeAsync() => _h = await RelayHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task Clients_under_a_relay_install_and_the_manager_sends_the_package_once()
    {
        var relay = await _h.StartRelayAsync("relay1");
        var package = await _h.PackageAsync("app");
        var agents = new[] { await _h.AgentAsync("c1", relay.Url), await _h.AgentAsync("c2", relay.Url), await _h.AgentAsync("c3", relay.Url) };
        foreach (var agent in agents)
        {
            await agent.RunOnceAsync(CancellationToken.None); // registers through the relay
        }
        var hosts = await _h.Folder.Engine.Hosts.ListAsync("c*");
        Assert.Equal(3, hosts.Count);
        Assert.All(hosts, h => Assert.Equal("relay1", h.HigherSystem));
        Assert.Equal(HostKind.Relay, (await _h.Folder.Engine.Hosts.ListAsync("relay1")).Single().Kind);

        await _h.ExecuteAsync(new NewJobRequest("job", "app", null, ["c1", "c2", "c3"]));
        await _h.RunUntilFinalAsync("job", agents);

        Assert.All(await _h.StatusAsync("job"), s => Assert.Equal(TargetStatus.Succeeded, s.Status));
        Assert.Equal(3, _h.Installs().Count);
        // The relay fetched the package once; its clients got it from the relay.
        Assert.Equal(package.TotalBytes, await RelayHarness.ContentBytesServedAsync(_h.ManagerUrl));
        Assert.Equal(3 * package.TotalBytes, await RelayHarness.ContentBytesServedAsync(relay.Url));
    }

    [Fact]
    public async Task A_user_choice_package_below_a_relay_is_offered_and_installed_through_the_relay_when_the_user_chooses()
    {
        var relay = await _h.StartRelayAsync("relay1");
        var package = await _h.PackageAsync("app");
        var agent = await _h.AgentAsync("c1", relay.Url);
        await agent.RunOnceAsync(CancellationToken.None);
        await _h.ExecuteAsync(new NewJobRequest("offer", "app", null, ["c1"], JobType.UserChoice));
        await RelayHarness.EventuallyAsync(async () =>
        {
            await agent.RunOnceAsync(CancellationToken.None);
            return (await _h.StatusAsync("offer")).Single().Status == TargetStatus.Available;
        }, "the package offered below the relay");
        Assert.Empty(_h.Installs());
        Assert.Equal(0, await RelayHarness.ContentBytesServedAsync(relay.Url));

        var outcome = await agent.InstallAvailableAsync("app", null, CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Message);
        Assert.Single(_h.Installs());
        await RelayHarness.EventuallyAsync(async () => (await _h.StatusAsync("offer")).Single().Status == TargetStatus.Succeeded, "the user's install reported");
        Assert.Equal(package.TotalBytes, await RelayHarness.ContentBytesServedAsync(relay.Url));
        await agent.RunOnceAsync(CancellationToken.None);
        Assert.Single(_h.Installs());
    }

    [Fact]
    public async Task Relays_chain_and_a_relay_installs_jobs_sent_to_itself()
    {
        var upper = await _h.StartRelayAsync("upper");
        var lower = await _h.StartRelayAsync("lower", upper.Url);
        var package = await _h.PackageAsync("app");
        var agent = await _h.AgentAsync("leaf", lower.Url);
        await agent.RunOnceAsync(CancellationToken.None);

        Assert.Equal("upper", (await _h.Folder.Engine.Hosts.ListAsync("lower")).Single().HigherSystem);
        Assert.Equal("lower", (await _h.Folder.Engine.Hosts.ListAsync("leaf")).Single().HigherSystem);

        // The lower relay runs its own client role: it installs the job like any client.
        await _h.ExecuteAsync(new NewJobRequest("job", "app", null, ["leaf", "lower"]));
        await _h.RunUntilFinalAsync("job", agent);

        Assert.All(await _h.StatusAsync("job"), s => Assert.Equal(TargetStatus.Succeeded, s.Status));
        Assert.Contains(_h.Installs(), line => line.StartsWith("leaf ", StringComparison.Ordinal));
        Assert.Contains(_h.Installs(), line => line.StartsWith("lower ", StringComparison.Ordinal));
        Assert.Equal(package.TotalBytes, await RelayHarness.ContentBytesServedAsync(_h.ManagerUrl));
    }

    [Fact]
    public async Task A_new_client_below_a_relay_joins_an_id_group_and_runs_its_job_at_its_first_connection()
    {
        var relay = await _h.StartRelayAsync("relay1");
        await _h.PackageAsync("av");
        await _h.Folder.Engine.IdGroups.CreateAsync("ID_NEWCLT", null);
        await _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest("av to new", "av", null, ["ID_NEWCLT"], DestinationType: DestinationType.IdGroup));
        await _h.Folder.Engine.Jobs.StartAsync("av to new");
        await _h.Folder.Engine.IdGroups.SetPolicyAsync("ID_NEWCLT", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["new-*"] }]);

        var agent = await _h.AgentAsync("new-pc1", relay.Url);
        await _h.RunUntilFinalAsync("av to new", agent);

        var status = (await _h.StatusAsync("av to new")).Single();
        Assert.Equal(("new-pc1", TargetStatus.Succeeded), (status.HostName, status.Status));
    }

    [Fact]
    public async Task An_all_lower_clients_job_reaches_every_client_below_the_relay_at_all_levels()
    {
        var upper = await _h.StartRelayAsync("upper");
        var lower = await _h.StartRelayAsync("lower", upper.Url);
        await _h.PackageAsync("app");
        var a = await _h.AgentAsync("a", upper.Url);
        var b = await _h.AgentAsync("b", lower.Url);
        var outside = await _h.AgentAsync("outside", _h.ManagerUrl);
        foreach (var agent in new[] { a, b, outside })
        {
            await agent.RunOnceAsync(CancellationToken.None);
        }

        await _h.ExecuteAsync(new NewJobRequest("job", "app", null, ["upper"], DestinationType: DestinationType.AllLowerClients));
        await _h.RunUntilFinalAsync("job", a, b, outside);

        var status = await _h.StatusAsync("job");
        Assert.Equal(["a", "b", "lower"], status.Select(s => s.HostName).Order(StringComparer.OrdinalIgnoreCase).ToArray());
        Assert.All(status, s => Assert.Equal(TargetStatus.Succeeded, s.Status));
    }

    [Fact]
    public async Task Transfer_to_relay_stores_the_package_once_and_installs_below_take_it_from_the_cache()
    {
        var relay = await _h.StartRelayAsync("relay1");
        var expires = DateTime.UtcNow.AddHours(1);
        var package = await _h.PackageAsync("app", expires);
        var agent = await _h.AgentAsync("c1", relay.Url);
        await agent.RunOnceAsync(CancellationToken.None);

        await _h.ExecuteAsync(new NewJobRequest("stage", "app", null, ["relay1"], Type: JobType.TransferToRelay));
        await _h.RunUntilFinalAsync("stage");
        var stored = (await _h.StatusAsync("stage")).Single();
        Assert.Equal(TargetStatus.StoredOnRelay, stored.Status);
        Assert.NotNull(stored.StoredUntil);
        Assert.True(Math.Abs((stored.StoredUntil!.Value.ToUniversalTime() - expires).TotalSeconds) < 1);
        Assert.Equal(package.TotalBytes, await RelayHarness.ContentBytesServedAsync(_h.ManagerUrl));
        Assert.Single(relay.Node.Stored);

        // The same package to the same relay before it expires is not sent again.
        var again = await Assert.ThrowsAsync<JP1Dist.Protocol.DistException>(() => _h.Folder.Engine.Jobs.StartAsync("stage"));
        Assert.Equal("AlreadyStoredOnRelays", again.ErrorId);
        Assert.Equal(TargetStatus.StoredOnRelay, (await _h.StatusAsync("stage")).Single().Status);

        // After the expiry changed, the transfer is sent again and the relay keeps the package until the new date.
        var later = expires.AddHours(1);
        await _h.Folder.Engine.Packages.SetExpiryAsync("app", "1.0", later);
        await _h.Folder.Engine.Jobs.StartAsync("stage");
        await _h.RunUntilFinalAsync("stage");
        var restored = (await _h.StatusAsync("stage")).Single();
        Assert.Equal(TargetStatus.StoredOnRelay, restored.Status);
        Assert.True(Math.Abs((restored.StoredUntil!.Value.ToUniversalTime() - later).TotalSeconds) < 1);
        Assert.True(Math.Abs((relay.Node.Stored.Single().Until!.Value - later).TotalSeconds) < 1);

        // The second stage, with its own execution: the client takes the package from the relay's cache.
        await _h.ExecuteAsync(new NewJobRequest("install", "app", null, ["c1"]));
        await _h.RunUntilFinalAsync("install", agent);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("install")).Single().Status);
        Assert.Equal(package.TotalBytes, await RelayHarness.ContentBytesServedAsync(_h.ManagerUrl));
    }

    [Fact]
    public async Task Expired_packages_are_removed_from_the_relay_cache()
    {
        var relay = await _h.StartRelayAsync("relay1");
        var package = await _h.PackageAsync("app", DateTime.UtcNow.AddSeconds(4));
        await _h.ExecuteAsync(new NewJobRequest("stage", "app", null, ["relay1"], Type: JobType.TransferToRelay));
        await _h.RunUntilFinalAsync("stage");
        Assert.Equal(TargetStatus.StoredOnRelay, (await _h.StatusAsync("stage")).Single().Status);
        var cached = Directory.EnumerateFiles(relay.Options.CacheFolder, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".part", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, cached.Count);

        await RelayHarness.EventuallyAsync(() => Task.FromResult(relay.Node.Stored.Count == 0 && cached.All(f => !File.Exists(f))), "expired package removed", 30);
    }

    [Fact]
    public async Task A_relay_restarted_mid_distribution_resumes_and_its_clients_complete()
    {
        var relay = await _h.StartRelayAsync("relay1");
        var package = await _h.PackageAsync("app");
        var handler = new RecordingHandler { PayloadSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(_h.Payload)) };
        var agent = await _h.AgentAsync("c1", relay.Url, handler);
        await agent.RunOnceAsync(CancellationToken.None);
        await _h.ExecuteAsync(new NewJobRequest("job", "app", null, ["c1"]));

        // The relay goes down while the client is in the middle of the payload.
        var stopped = false;
        handler.BeforePayloadRead = async offset =>
        {
            if (!stopped && offset >= 5 * RelayHarness.SegmentSize)
            {
                stopped = true;
                await relay.StopAsync();
                throw new IOException("relay gone");
            }
        };
        await RelayHarness.EventuallyAsync(async () =>
        {
            try
            {
                await agent.RunOnceAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
            }
            return stopped;
        }, "transfer cut by the relay stopping");
        Assert.NotEqual(TargetStatus.Succeeded, (await _h.StatusAsync("job")).Single().Status);

        await relay.StartAsync();
        handler.BeforePayloadRead = null;
        await _h.RunUntilFinalAsync("job", agent);

        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("job")).Single().Status);
        // The client went on after its verified segments; the relay kept its cache across the restart.
        Assert.Contains(handler.PayloadOffsets, o => o >= 5 * RelayHarness.SegmentSize && o % RelayHarness.SegmentSize == 0 && o > 0);
        Assert.Equal(package.TotalBytes, await RelayHarness.ContentBytesServedAsync(_h.ManagerUrl));
    }

    [Fact]
    public async Task A_client_below_a_relay_stops_at_a_segment_boundary_when_suspended_and_resumes_there()
    {
        var relay = await _h.StartRelayAsync("relay1");
        await _h.PackageAsync("app");
        var handler = new RecordingHandler { PayloadSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(_h.Payload)) };
        var agent = await _h.AgentAsync("c1", relay.Url, handler);
        await agent.RunOnceAsync(CancellationToken.None);
        await _h.ExecuteAsync(new NewJobRequest("job", "app", null, ["c1"]));

        var suspended = false;
        handler.BeforePayloadRead = async offset =>
        {
            if (!suspended && offset >= 4 * RelayHarness.SegmentSize)
            {
                suspended = true;
                await _h.Folder.Engine.Jobs.SuspendAsync("job", null);
                // The manager wakes the relay's poll: the relay's snapshot says Suspended, and it answers progress from it.
                await RelayHarness.EventuallyAsync(async () => (await relay.Node.CountTargetsAsync(default)).GetValueOrDefault(TargetStatus.Suspended) == 1,
                    "the relay knows of the suspension", 20);
            }
        };
        await RelayHarness.EventuallyAsync(async () =>
        {
            await agent.RunOnceAsync(CancellationToken.None);
            return suspended;
        }, "suspended during the transfer");
        var held = (await _h.StatusAsync("job")).Single();
        Assert.Equal(TargetStatus.Suspended, held.Status);
        Assert.Empty(_h.Installs());
        var stoppedAt = handler.PayloadOffsets.Count();

        await _h.Folder.Engine.Jobs.ResumeAsync("job", null);
        await _h.RunUntilFinalAsync("job", agent);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("job")).Single().Status);
        // The transfer went on from a segment boundary after the ones verified, not from the start.
        var resumedFrom = handler.PayloadOffsets.Skip(stoppedAt).First();
        Assert.True(resumedFrom >= 4 * RelayHarness.SegmentSize && resumedFrom % RelayHarness.SegmentSize == 0, $"resumed from {resumedFrom}");
    }

    [Fact]
    public async Task Content_a_restarted_relay_does_not_know_yet_is_asked_again_later_and_does_not_fail_the_target()
    {
        // The client's own higher system is the relay; the manager stands in (--manager RELAY,MANAGER).
        var relay = await _h.StartRelayAsync("relay1");
        await _h.PackageAsync("app");
        var handler = new RecordingHandler { PayloadSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(_h.Payload)) };
        var token = await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync("agent c1");
        using var agent = new global::JP1Dist.Agent.AgentRuntime(new global::JP1Dist.Agent.AgentOptions
        {
            ManagerUrl = new Uri(relay.Url),
            FailoverUrls = [new Uri(_h.ManagerUrl)],
            Token = token.Token!,
            Name = "c1",
            StateFolder = Path.Combine(_h.Folder.Root, "agent-c1"),
            PollWait = TimeSpan.Zero,
            ProgressReportInterval = TimeSpan.Zero,
            MaxBackoff = TimeSpan.FromMilliseconds(200),
        }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, handler);
        await agent.RunOnceAsync(CancellationToken.None);

        // The relay is down when the job is executed, so the client takes it from the manager; the manager dies in the
        // middle of the payload, and the relay comes back with the work it kept, from before the job (it cannot reach the
        // manager to learn more). The client's next range request goes to the relay, which does not know that content yet.
        await relay.StopAsync();
        await _h.ExecuteAsync(new NewJobRequest("job", "app", null, ["c1"]));
        var cut = false;
        handler.BeforePayloadRead = async offset =>
        {
            if (!cut && offset >= 3 * RelayHarness.SegmentSize)
            {
                cut = true;
                await _h.StopManagerAsync();
                await relay.StartAsync();
                throw new IOException("manager gone");
            }
        };
        try
        {
            await agent.RunOnceAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException or global::JP1Dist.Agent.HigherSystemException)
        {
        }
        Assert.True(cut, "the manager was stopped in the middle of the payload");

        // Everything back: the target succeeds, installed once, instead of having failed for good on the relay's answer.
        await _h.StartManagerAsync();
        await _h.RunUntilFinalAsync("job", agent);
        var target = (await _h.StatusAsync("job")).Single();
        Assert.True(target.Status == TargetStatus.Succeeded, $"{target.Status}: {target.Message}");
        Assert.Single(_h.Installs());
    }

    [Fact]
    public async Task A_client_whose_relay_is_down_loses_no_result()
    {
        var relay = await _h.StartRelayAsync("relay1");
        await _h.PackageAsync("slow", slow: true); // the install command takes 3 s
        var agent = await _h.AgentAsync("c1", relay.Url);
        await agent.RunOnceAsync(CancellationToken.None);
        await _h.ExecuteAsync(new NewJobRequest("job", "slow", null, ["c1"]));

        // The relay goes down while the install runs: the client cannot report its result.
        var run = Task.Run(async () =>
        {
            await RelayHarness.EventuallyAsync(async () =>
            {
                await agent.RunOnceAsync(CancellationToken.None);
                return _h.Installs().Count > 0;
            }, "installed");
        });
        await RelayHarness.EventuallyAsync(async () => (await _h.StatusAsync("job")).Single().Status == TargetStatus.Installing, "installing");
        await relay.StopAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => run);
        Assert.Single(_h.Installs());
        Assert.Equal(TargetStatus.Installing, (await _h.StatusAsync("job")).Single().Status);

        // Back again: the client sends the result it kept, and does not install again.
        await relay.StartAsync();
        await _h.RunUntilFinalAsync("job", agent);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("job")).Single().Status);
        Assert.Single(_h.Installs());
    }

    [Fact]
    public async Task The_manager_restarted_while_a_relay_holds_results_receives_them_afterwards()
    {
        var relay = await _h.StartRelayAsync("relay1");
        var package = await _h.PackageAsync("app");
        var agent = await _h.AgentAsync("c1", relay.Url);
        await agent.RunOnceAsync(CancellationToken.None);
        await _h.ExecuteAsync(new NewJobRequest("job", "app", null, ["c1"]));
        // The relay has the work and the package before the manager goes down.
        var cachedPayload = Path.Combine(relay.Options.CacheFolder, "content",
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(_h.Payload))[..2]);
        await RelayHarness.EventuallyAsync(() => Task.FromResult(Directory.Exists(cachedPayload)), "relay prefetched the package");
        await _h.StopManagerAsync();

        await agent.RunOnceAsync(CancellationToken.None); // installs and reports to the relay, which queues the result
        Assert.Single(_h.Installs());
        Assert.NotEqual(TargetStatus.Succeeded, (await _h.StatusAsync("job")).Single().Status);

        await _h.StartManagerAsync();
        await RelayHarness.EventuallyAsync(async () => (await _h.StatusAsync("job")).Single().Status == TargetStatus.Succeeded, "result passed upward");
        Assert.Single(_h.Installs());
        _ = package;
    }
}
