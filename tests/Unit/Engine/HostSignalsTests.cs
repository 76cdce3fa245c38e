using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Managers;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Serving;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// Which polls a change for a host wakes: the host's own, and those of the relays above it; not every relay's. A host
/// the node does not know wakes every relay. The manager learns the tree from its database when it starts.
/// </summary>
public sealed class HostSignalsTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    private static async Task<bool> WokenAsync(Task wait) => await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10))) == wait;

    private static async Task<bool> StillWaitingAsync(Task wait)
    {
        await Task.Delay(200);
        return !wait.IsCompleted;
    }

    /// <summary>
    /// A folder with registered hosts and the package "Tool", and a distribution service over its engine with signals of its
    /// own: what the engine's writers signal never reaches these polls, as a lost nudge would not.
    /// </summary>
    private sealed class Polling : IDisposable
    {
        private Polling(TestFolder folder) => Folder = folder;

        public TestFolder Folder { get; }
        public HostSignals Signals { get; } = new();
        public DistributionService Distribution { get; private set; } = null!;
        public RegisterResponse[] Hosts { get; private set; } = [];

        public static async Task<Polling> StartAsync(params string[] hostNames)
        {
            var polling = new Polling(new TestFolder());
            try
            {
                var folder = polling.Folder;
                polling.Hosts = [.. await Task.WhenAll(hostNames.Select(folder.RegisterHostAsync))];
                folder.WriteFile("pkg/setup.sh", "#!/bin/sh\n");
                await folder.Engine.Packages.CreateAsync(new NewPackageRequest("Tool", "1.0", Path.Combine(folder.Root, "pkg"), "setup.sh"));
                polling.Distribution = new DistributionService(folder.Engine, polling.Signals);
                return polling;
            }
            catch
            {
                polling.Dispose();
                throw;
            }
        }

        public void Dispose() => Folder.Dispose();
    }

    [Fact]
    public async Task A_change_for_a_host_wakes_its_poll_and_the_relays_above_it_only()
    {
        var signals = new HostSignals();
        Guid r1 = Guid.NewGuid(), r2 = Guid.NewGuid(), other = Guid.NewGuid(), client = Guid.NewGuid(), direct = Guid.NewGuid();
        signals.Learn(r1, null);
        signals.Learn(r2, r1); // r2 is chained below r1
        signals.Learn(other, null);
        signals.Learn(client, r2);
        signals.Learn(direct, null);
        var clientPoll = signals.WaitAsync(client, Long, CancellationToken.None);
        var r1Poll = signals.WaitForRelayAsync(r1, Long, CancellationToken.None);
        var r2Poll = signals.WaitForRelayAsync(r2, Long, CancellationToken.None);
        var otherPoll = signals.WaitForRelayAsync(other, Long, CancellationToken.None);
        var directPoll = signals.WaitAsync(direct, Long, CancellationToken.None);

        signals.Notify([client]);

        Assert.True(await WokenAsync(clientPoll));
        Assert.True(await WokenAsync(r2Poll));
        Assert.True(await WokenAsync(r1Poll));
        Assert.True(await StillWaitingAsync(otherPoll));
        Assert.True(await StillWaitingAsync(directPoll));
        Assert.Equal(2, signals.RelayPollsWoken);

        // A host directly under this node wakes its own poll and no relay.
        signals.Notify([direct]);
        Assert.True(await WokenAsync(directPoll));
        Assert.True(await StillWaitingAsync(otherPoll));
    }

    [Fact]
    public async Task A_host_the_node_does_not_know_wakes_every_relay()
    {
        var signals = new HostSignals();
        Guid r1 = Guid.NewGuid(), r2 = Guid.NewGuid();
        signals.Learn(r1, null);
        signals.Learn(r2, null);
        var r1Poll = signals.WaitForRelayAsync(r1, Long, CancellationToken.None);
        var r2Poll = signals.WaitForRelayAsync(r2, Long, CancellationToken.None);

        signals.Notify([Guid.NewGuid()]);

        Assert.True(await WokenAsync(r1Poll));
        Assert.True(await WokenAsync(r2Poll));
    }

    [Fact]
    public async Task A_cycle_in_what_was_learned_does_not_loop()
    {
        var signals = new HostSignals();
        Guid a = Guid.NewGuid(), b = Guid.NewGuid();
        signals.Learn(a, b);
        signals.Learn(b, a);
        var poll = signals.WaitForRelayAsync(b, Long, CancellationToken.None);

        signals.Notify([a]);

        Assert.True(await WokenAsync(poll));
    }

    [Fact]
    public async Task The_manager_learns_the_host_tree_from_its_database_when_it_starts()
    {
        using var folder = new TestFolder();
        var engine = folder.Engine;
        var token = await engine.Hosts.NewEnrollmentTokenAsync("t");
        var relayToken = await engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("t", Relay: true));
        var relay = await engine.Hosts.RegisterAsync(new RegisterRequest(relayToken.Token!, "relay-a", "Linux", "6.1", "X64", [], null, "1.0") { Kind = "Relay" });
        var otherRelay = await engine.Hosts.RegisterAsync(new RegisterRequest(relayToken.Token!, "relay-b", "Linux", "6.1", "X64", [], null, "1.0") { Kind = "Relay" });
        var client = await engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, "pc-1", "Linux", "6.1", "X64", [], null, "1.0"), relay.HostId, CancellationToken.None);

        await using var app = ManagerHost.Build(new ManagerOptions { Home = Path.Combine(folder.Root, "home"), ListenUrl = "http://127.0.0.1:0", QuietConsole = true });
        var signals = app.Services.GetRequiredService<HostSignals>();
        var relayPoll = signals.WaitForRelayAsync(relay.HostId, Long, CancellationToken.None);
        var otherPoll = signals.WaitForRelayAsync(otherRelay.HostId, Long, CancellationToken.None);

        signals.Notify([client.HostId]);

        Assert.True(await WokenAsync(relayPoll));
        Assert.True(await StillWaitingAsync(otherPoll));
    }

    [Fact]
    public async Task Executing_a_job_wakes_the_polls_of_its_hosts_only_and_other_nudges_still_wake_every_poll()
    {
        // With 10,000 agents waiting, an execution's nudge woke every poll before its dispatch: each looked, found its
        // open work changed but nothing to serve yet, and answered empty. The dispatch wakes the execution's hosts.
        using var folder = new TestFolder();
        var engine = folder.Engine;
        var target = await folder.RegisterHostAsync("pc-target");
        var bystander = await folder.RegisterHostAsync("pc-bystander");
        folder.WriteFile("pkg/setup.sh", "#!/bin/sh\n");
        await engine.Packages.CreateAsync(new NewPackageRequest("Tool", "1.0", Path.Combine(folder.Root, "pkg"), "setup.sh"));
        await engine.Jobs.CreateAsync(new NewJobRequest("deploy", "Tool", null, ["pc-target"]));

        await using var app = ManagerHost.Build(new ManagerOptions { Home = engine.Folder.Root, ListenUrl = "http://127.0.0.1:0", QuietConsole = true });
        await app.StartAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!(await engine.Managers.ListAsync()).Any(m => m.IsAlive))
        {
            Assert.True(DateTime.UtcNow < deadline, "the manager did not announce itself");
            await Task.Delay(50);
        }
        var signals = app.Services.GetRequiredService<HostSignals>();
        var distribution = app.Services.GetRequiredService<DistributionService>();
        var bystanderPoll = signals.WaitAsync(bystander.HostId, Long, CancellationToken.None);
        var targetPoll = distribution.WaitForWorkAsync(target.HostId, Long, CancellationToken.None);

        await engine.Jobs.StartAsync("deploy");

        Assert.True(await WokenAsync(targetPoll));
        Assert.Single((await targetPoll).Items);
        Assert.True(await StillWaitingAsync(bystanderPoll));

        // A nudge for anything else (a resume, a power order) still wakes every waiting poll.
        await engine.Managers.NudgeAsync();
        Assert.True(await WokenAsync(bystanderPoll));
        await app.StopAsync();
    }

    [Fact]
    public async Task A_waiting_poll_looks_as_it_starts_and_when_signalled_and_its_end_answers_with_the_last_look()
    {
        // With 10,000 agents waiting, a look on a timer and one at the end of every wait were two of every three looks the
        // idle manager made; a wait now looks only as it starts and when a signal names its host.
        var signals = new HostSignals();
        var host = Guid.NewGuid();
        var looks = 0;
        Task<string> Look(CancellationToken _) => Task.FromResult($"look {Interlocked.Increment(ref looks)}");

        var quiet = await LongPoll.WaitAsync(signals, host, TimeSpan.FromSeconds(1), TimeProvider.System, Look, _ => false, CancellationToken.None);
        Assert.Equal("look 1", quiet);
        Assert.Equal(1, looks);

        looks = 0;
        var signalled = LongPoll.WaitAsync(signals, host, TimeSpan.FromSeconds(3), TimeProvider.System, Look, _ => false, CancellationToken.None);
        Assert.True(await StillWaitingAsync(signalled));
        signals.Notify([host]);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (Volatile.Read(ref looks) < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.Equal("look 2", await signalled);
        Assert.Equal(2, looks);

        // A wait already over when it starts looks once and answers.
        looks = 0;
        Assert.Equal("look 1", await LongPoll.WaitAsync(signals, host, TimeSpan.Zero, TimeProvider.System, Look, _ => false, CancellationToken.None));
    }

    [Fact]
    public async Task A_host_whose_look_found_nothing_is_answered_without_a_look_until_a_signal_or_the_quiet_time_ends()
    {
        using var polling = await Polling.StartAsync("pc-1", "pc-2");
        var (engine, signals, distribution) = (polling.Folder.Engine, polling.Signals, polling.Distribution);
        var (host, other) = (polling.Hosts[0], polling.Hosts[1]);
        async Task<WorkResponse> PollAsync() => await distribution.WaitForWorkAsync(host.HostId, TimeSpan.Zero, CancellationToken.None);

        Assert.Empty((await PollAsync()).Items);
        Assert.Empty((await PollAsync()).Items);
        Assert.Equal((1L, 1L), distribution.Looks); // the second poll: nothing signalled since the first look found nothing

        // A signal for another host changes nothing for this one; one naming it, or every poll, makes its next poll look.
        signals.Notify([other.HostId]);
        await PollAsync();
        Assert.Equal((1L, 2L), distribution.Looks);
        signals.Notify([host.HostId]);
        await PollAsync();
        signals.NotifyAll();
        await PollAsync();
        Assert.Equal((3L, 2L), distribution.Looks);

        // Work queued and dispatched here signals the host: served at the next poll.
        await engine.Jobs.CreateAsync(new NewJobRequest("deploy", "Tool", null, ["pc-1"], RetryLimit: 1));
        var execution = await engine.Jobs.StartAsync("deploy");
        await distribution.DispatchAsync(execution.ExecutionId, default);
        var item = Assert.Single((await PollAsync()).Items);

        // While a target may still be served or retried, every poll looks: such a host is never taken as quiet.
        await PollAsync();
        await distribution.ReportAsync(host.HostId, new ReportRequest(item.WorkItemId, nameof(TargetStatus.Failed), ExitCode: 1, Message: "failed"), default);
        var (made, skipped) = distribution.Looks;
        await PollAsync();
        await PollAsync();
        Assert.Equal((made + 2, skipped), distribution.Looks); // a retry comes later (RetryDelay): no signal will announce it

        // A retry that falls due while a poll waits, seen by a look after a signal (not the poll's first): the next poll looks
        // and queues it, rather than taking the host as quiet until the quiet time ends.
        (made, _) = distribution.Looks;
        var waiting = distribution.WaitForWorkAsync(host.HostId, TimeSpan.FromSeconds(3), CancellationToken.None);
        await Eventually.ForAsync(() => Task.FromResult(distribution.Looks.Made > made), "the poll's first look");
        Assert.True(await StillWaitingAsync(waiting)); // its first look found the retry to come later
        distribution.RetryDelay = TimeSpan.Zero;
        signals.Notify([host.HostId]);
        Assert.Empty((await waiting).Items);
        var retried = Assert.Single((await PollAsync()).Items);
        Assert.Equal(("deploy", 2), (retried.JobName, retried.Attempt));
        await distribution.ReportAsync(host.HostId, new ReportRequest(retried.WorkItemId, nameof(TargetStatus.Succeeded), ExitCode: 0), default);

        // The quiet time bounds how long a host is taken at its word (a writer whose signal never arrived).
        await engine.Jobs.RemoveAsync("deploy", force: true);
        distribution.QuietFor = TimeSpan.Zero;
        (made, skipped) = distribution.Looks;
        await PollAsync();
        await PollAsync();
        Assert.Equal((made + 2, skipped), distribution.Looks);
    }

    [Fact]
    public async Task Quiet_hosts_are_renewed_together_and_a_change_whose_signal_was_lost_wakes_the_poll()
    {
        using var polling = await Polling.StartAsync("pc-1", "pc-2");
        var (engine, signals, distribution) = (polling.Folder.Engine, polling.Signals, polling.Distribution);
        var (host, other) = (polling.Hosts[0], polling.Hosts[1]);
        Assert.Empty((await distribution.WaitForWorkAsync(host.HostId, TimeSpan.Zero, CancellationToken.None)).Items);
        Assert.Empty((await distribution.WaitForWorkAsync(other.HostId, TimeSpan.Zero, CancellationToken.None)).Items);
        Assert.Equal((2L, 0L), distribution.Looks);

        // None is due within a second: nothing to renew. Both due: one look for both, and each renewed.
        Assert.Equal(0, await distribution.RenewQuietAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
        Assert.Equal(2, await distribution.RenewQuietAsync(distribution.QuietFor + TimeSpan.FromMinutes(1), CancellationToken.None));
        // A renewal cut short (its look failed, or the manager stops) leaves its hosts for the next one.
        using (var stopped = new CancellationTokenSource())
        {
            await stopped.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => distribution.RenewQuietAsync(distribution.QuietFor + TimeSpan.FromMinutes(1), stopped.Token));
        }
        Assert.Equal(2, await distribution.RenewQuietAsync(distribution.QuietFor + TimeSpan.FromMinutes(1), CancellationToken.None));
        distribution.QuietFor = TimeSpan.FromMilliseconds(1);
        Assert.Equal(2, await distribution.RenewQuietAsync(TimeSpan.FromMinutes(3), CancellationToken.None));
        // Renewed for the new quiet time only: it has passed, so the next poll looks.
        await Task.Delay(20);
        await distribution.WaitForWorkAsync(other.HostId, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal((3L, 0L), distribution.Looks);
        distribution.QuietFor = TimeSpan.FromMinutes(2);
        await Task.Delay(20); // past the 1 ms the last look was taken at its word for
        await distribution.WaitForWorkAsync(other.HostId, TimeSpan.Zero, CancellationToken.None);
        Assert.Empty((await distribution.WaitForWorkAsync(other.HostId, TimeSpan.Zero, CancellationToken.None)).Items);
        Assert.Equal((4L, 1L), distribution.Looks);

        // Work queued and dispatched by a writer whose signal does not reach these polls: the waiting poll of pc-1 is woken by
        // the renewal's look and served; pc-2, for which nothing changed, is renewed.
        var waiting = distribution.WaitForWorkAsync(host.HostId, Long, CancellationToken.None);
        Assert.True(await StillWaitingAsync(waiting));
        await engine.Jobs.CreateAsync(new NewJobRequest("deploy", "Tool", null, ["pc-1"]));
        var execution = await engine.Jobs.StartAsync("deploy");
        await engine.Distribution.DispatchAsync(execution.ExecutionId, default);
        Assert.True(await StillWaitingAsync(waiting));
        Assert.Equal(1, await distribution.RenewQuietAsync(distribution.QuietFor + TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.True(await WokenAsync(waiting));
        Assert.Equal("deploy", Assert.Single((await waiting).Items).JobName);

        // A host signalled since its quiet look is left to its next poll, which looks anyway.
        Assert.Empty((await distribution.WaitForWorkAsync(other.HostId, TimeSpan.Zero, CancellationToken.None)).Items);
        signals.Notify([other.HostId]);
        Assert.Equal(0, await distribution.RenewQuietAsync(distribution.QuietFor + TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    [Fact]
    public async Task A_dispatch_answers_the_polls_it_wakes_from_one_look_and_a_poll_that_starts_later_looks_itself()
    {
        using var polling = await Polling.StartAsync("pc-1", "pc-2", "pc-3", "pc-4");
        var (engine, signals, distribution) = (polling.Folder.Engine, polling.Signals, polling.Distribution);
        var (one, two, three, four) = (polling.Hosts[0], polling.Hosts[1], polling.Hosts[2], polling.Hosts[3]);
        await engine.Jobs.CreateAsync(new NewJobRequest("deploy", "Tool", null, ["pc-1", "pc-2", "pc-3", "pc-4"]));
        var first = distribution.WaitForWorkAsync(one.HostId, Long, CancellationToken.None);
        var second = distribution.WaitForWorkAsync(two.HostId, Long, CancellationToken.None);
        var bare = signals.WaitAsync(three.HostId, Long, CancellationToken.None); // pc-3 waits here; pc-4 polls nowhere
        Assert.True(await StillWaitingAsync(first));
        Assert.True(await StillWaitingAsync(second));
        var (made, skipped) = distribution.Looks;

        var execution = await engine.Jobs.StartAsync("deploy");
        Assert.Equal(4, await distribution.DispatchAsync(execution.ExecutionId, default));

        // The two waiting polls are answered from the dispatch's look, with their work, the same as a look of their own.
        Assert.True(await WokenAsync(first));
        Assert.True(await WokenAsync(second));
        foreach (var (answer, host) in new[] { (await first, one), (await second, two) })
        {
            var item = Assert.Single(answer.Items);
            Assert.Equal(("deploy", 1), (item.JobName, item.Attempt));
            Assert.Equal([item.WorkItemId], answer.Open);
            Assert.Equal(Assert.Single(await distribution.GetWorkAsync(host.HostId, default)), item);
        }
        Assert.Equal(((made, skipped), 2L), (distribution.Looks, distribution.AnswersPrepared));

        // pc-3's answer was made too, but a poll that starts now (not one the dispatch woke) looks itself: another poll of
        // the host may have looked in between and taken the work on.
        Assert.True(await WokenAsync(bare));
        Assert.Single((await distribution.WaitForWorkAsync(three.HostId, TimeSpan.Zero, CancellationToken.None)).Items);
        // pc-4 had no poll here: no answer was made for it, and its poll looks.
        Assert.Single((await distribution.WaitForWorkAsync(four.HostId, TimeSpan.Zero, CancellationToken.None)).Items);
        Assert.Equal(((made + 2, skipped), 2L), (distribution.Looks, distribution.AnswersPrepared));
    }

    [Fact]
    public async Task After_a_key_rotation_the_answers_a_dispatch_prepares_carry_the_manifest_signed_again_once_and_stored()
    {
        using var polling = await Polling.StartAsync("pc-1", "pc-2", "pc-3");
        var (engine, distribution) = (polling.Folder.Engine, polling.Distribution);
        await engine.Jobs.CreateAsync(new NewJobRequest("deploy", "Tool", null, ["pc-1", "pc-2", "pc-3"]));
        await engine.SigningKeys.RotateAsync(TimeSpan.FromDays(1)); // the package's stored signature is the old key's
        var newKey = engine.Signer.PublicKey;
        var polls = polling.Hosts.Select(h => distribution.WaitForWorkAsync(h.HostId, Long, CancellationToken.None)).ToList();
        foreach (var poll in polls)
        {
            Assert.True(await StillWaitingAsync(poll));
        }

        var execution = await engine.Jobs.StartAsync("deploy");
        Assert.Equal(3, await distribution.DispatchAsync(execution.ExecutionId, default));

        var items = new List<JP1Dist.Protocol.WorkItem>();
        foreach (var poll in polls)
        {
            Assert.True(await WokenAsync(poll));
            items.Add(Assert.Single((await poll).Items));
        }
        Assert.Equal(3L, distribution.AnswersPrepared);
        // One manifest, signed once by the new key for all three answers, and stored as signed by it.
        Assert.Single(items.Select(i => (i.Manifest, i.ManifestSignature)).Distinct());
        Assert.True(JP1Dist.Protocol.Signing.ManifestSigner.Verify(newKey, items[0].Manifest, items[0].ManifestSignature));
        using var db = engine.Database.CreateContext();
        var package = db.Packages.Single();
        Assert.Equal((items[0].ManifestSignature, JP1Dist.Protocol.Signing.Fingerprints.OfPublicKey(newKey)), (package.ManifestSignature, package.ManifestSigningKey));
    }

    [Fact]
    public async Task Between_a_dispatch_and_its_signal_a_quiet_host_is_not_taken_at_its_word_and_a_waiting_poll_keeps_waiting()
    {
        // A dispatch signals its hosts once their answers are ready; a poll that starts before then must see the work.
        using var polling = await Polling.StartAsync("pc-1");
        var (signals, distribution, host) = (polling.Signals, polling.Distribution, polling.Hosts[0]);
        Assert.Empty((await distribution.WaitForWorkAsync(host.HostId, TimeSpan.Zero, CancellationToken.None)).Items);
        var waiting = signals.WaitAsync(host.HostId, Long, CancellationToken.None);
        var (made, skipped) = distribution.Looks;

        signals.Stir([host.HostId]);

        Assert.True(await StillWaitingAsync(waiting));
        await distribution.WaitForWorkAsync(host.HostId, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal((made + 1, skipped), distribution.Looks);
    }

    [Fact]
    public async Task A_poll_that_looks_between_an_execution_and_its_dispatch_keeps_waiting_for_the_work()
    {
        // An execution adds Waiting targets, which the host cannot do yet: a look before the dispatch (a re-check every
        // 15 s, or a wake) answered empty because the host's open items had changed, and the agent polled again.
        using var polling = await Polling.StartAsync("pc-1");
        var (engine, signals, distribution, host) = (polling.Folder.Engine, polling.Signals, polling.Distribution, polling.Hosts[0]);
        await engine.Jobs.CreateAsync(new NewJobRequest("deploy", "Tool", null, ["pc-1"]));
        var poll = distribution.WaitForWorkAsync(host.HostId, Long, CancellationToken.None);
        Assert.True(await StillWaitingAsync(poll)); // it looked once and waits

        var execution = await engine.Jobs.StartAsync("deploy"); // no manager runs here, so nothing dispatches it yet
        signals.Notify([host.HostId]); // a look now, as a re-check would make
        Assert.True(await StillWaitingAsync(poll));

        await distribution.DispatchAsync(execution.ExecutionId, default);
        Assert.True(await WokenAsync(poll));
        Assert.Single((await poll).Items);
    }

    [Fact]
    public async Task The_manager_serves_and_every_callers_engine_reports_through_the_engines_one_distribution_service()
    {
        // An offline result imported through the admin API (an engine acting for the key's caller) records through the
        // same DistributionService, with the same host signals, as the agents' reports the manager serves.
        using var folder = new TestFolder();
        await using var app = ManagerHost.Build(new ManagerOptions { Home = Path.Combine(folder.Root, "home"), ListenUrl = "http://127.0.0.1:0", QuietConsole = true });
        var engine = app.Services.GetRequiredService<Core.DistEngine>();
        var caller = engine.As(new Core.Security.DistCaller("ci-pipeline", "192.0.2.9", DistRole.Operator));
        Assert.Same(engine.Distribution, app.Services.GetRequiredService<DistributionService>());
        Assert.Same(engine.Signals, app.Services.GetRequiredService<HostSignals>());
        Assert.Same(engine.Distribution, caller.Distribution);
        Assert.Same(engine.Signals, caller.Signals);
        Assert.Same(engine.TargetChanges, caller.TargetChanges);
    }

    [Fact]
    public async Task A_host_waits_here_only_while_a_wait_of_its_poll_is_in_progress()
    {
        // A dispatch prepares answers only for the hosts whose poll waits here; the waiter a wait leaves behind (shared by
        // the host's next poll) made a host that moved to a relay, or went offline, count as waiting for good.
        var signals = new HostSignals();
        var host = Guid.NewGuid();
        Assert.False(signals.Waits(host));

        var first = signals.WaitAsync(host, Long, CancellationToken.None);
        var second = signals.WaitAsync(host, Long, CancellationToken.None);
        Assert.True(signals.Waits(host));
        signals.Notify([host]);
        Assert.True(await WokenAsync(Task.WhenAll(first, second)));
        Assert.False(signals.Waits(host));

        Assert.False(await signals.WaitAsync(host, TimeSpan.FromMilliseconds(50), CancellationToken.None)); // ended by its time
        Assert.False(signals.Waits(host));
        using var cancel = new CancellationTokenSource();
        var canceled = signals.WaitAsync(host, Long, cancel.Token);
        var other = signals.WaitAsync(host, Long, CancellationToken.None);
        await cancel.CancelAsync();
        Assert.False(await canceled);
        Assert.True(signals.Waits(host)); // the other wait goes on
        signals.Notify([host]);
        Assert.True(await other);
        Assert.False(signals.Waits(host));

        // A poll subscribes before its look; one whose look finds something answers and ends that wait (within moments:
        // the wait's end runs on the thread pool), instead of leaving it to run out its 30 s.
        var found = await LongPoll.WaitAsync(signals, host, Long, TimeProvider.System, _ => Task.FromResult<IReadOnlyList<int>>([1]), CancellationToken.None);
        Assert.Single(found);
        await Eventually.ForAsync(() => Task.FromResult(!signals.Waits(host)), "the answered poll's wait ended", limit: TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Waits_share_a_coarse_clock_that_never_ends_one_early()
    {
        // 10,000 polls with a timer each made the runtime's timer queue walk them all 333 times a second; the waits now
        // end on one tick a tenth of a second, never before their time.
        var signals = new HostSignals();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var delays = Enumerable.Range(0, 300).Select(i => TimeSpan.FromMilliseconds(50 + i % 300)).ToList();
        var waits = delays.Select(async delay =>
        {
            var started = clock.Elapsed;
            var signalled = await signals.WaitAsync(Guid.NewGuid(), delay, CancellationToken.None);
            return (Signalled: signalled, Waited: clock.Elapsed - started, Asked: delay);
        }).ToList();
        foreach (var (signalled, waited, asked) in await Task.WhenAll(waits))
        {
            Assert.False(signalled);
            Assert.True(waited >= asked, $"A wait of {asked.TotalMilliseconds} ms ended after {waited.TotalMilliseconds} ms.");
        }
        // Waits due within the same tenth of a second end on the same tick, each by a task of its own: a wait that ends
        // early takes its continuation off its task, and on a task shared by thousands that was a search of thousands.
        var same = CoarseDeadlines.After(TimeSpan.FromMilliseconds(200));
        var alsoSame = CoarseDeadlines.After(TimeSpan.FromMilliseconds(200));
        Assert.NotSame(same, alsoSame);
        await Task.WhenAll(same, alsoSame).WaitAsync(TimeSpan.FromSeconds(10));

        // A signal still ends a wait at once, and a wait without a timeout ends only by a signal or cancellation.
        var host = Guid.NewGuid();
        var endless = signals.WaitAsync(host, Timeout.InfiniteTimeSpan, CancellationToken.None);
        Assert.True(await StillWaitingAsync(endless));
        signals.Notify([host]);
        Assert.True(await WokenAsync(endless));
        Assert.True(await endless);
        using var cancel = new CancellationTokenSource();
        var canceled = signals.WaitAsync(Guid.NewGuid(), Timeout.InfiniteTimeSpan, cancel.Token);
        Assert.True(await StillWaitingAsync(canceled));
        await cancel.CancelAsync();
        Assert.True(await WokenAsync(canceled));
        Assert.False(await canceled);
    }

    [Fact]
    public async Task A_wait_ends_by_its_timeout_or_cancellation_without_leaving_an_exception_behind()
    {
        // Every waiting poll ends its wait by the timeout several times a minute: an exception each time (unobserved,
        // finalized later) cost a busy manager a tenth of its CPU. Count the unobserved TimeoutExceptions that appear
        // while this test's waits end; other tests in the process may add a few of their own, never hundreds.
        const int waits = 200;
        var unobserved = 0;
        void Count(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.InnerExceptions.Any(x => x is TimeoutException or OperationCanceledException))
            {
                Interlocked.Increment(ref unobserved);
            }
        }
        TaskScheduler.UnobservedTaskException += Count;
        try
        {
            var signals = new HostSignals();
            var ended = new List<Task<bool>>();
            for (var i = 0; i < waits; i++)
            {
                var host = Guid.NewGuid();
                ended.Add(signals.WaitAsync(host, TimeSpan.FromMilliseconds(1 + i % 150), CancellationToken.None));
                using var cancel = new CancellationTokenSource();
                var stopped = signals.WaitAsync(Guid.NewGuid(), Long, cancel.Token);
                await cancel.CancelAsync();
                ended.Add(stopped);
            }
            // Neither faults nor throws, and neither says it was signalled.
            Assert.All(await Task.WhenAll(ended), signalled => Assert.False(signalled));
            Assert.All(ended, wait => Assert.Equal(TaskStatus.RanToCompletion, wait.Status));
            var woken = signals.WaitAsync(Guid.Empty, Long, CancellationToken.None);
            signals.Notify([Guid.Empty]);
            Assert.True(await WokenAsync(woken));
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Count;
        }
        Assert.True(unobserved < waits / 2, $"{unobserved} unobserved exceptions from {waits * 2} waits that ended by timeout or cancellation.");
    }
}
