using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;
using JP1Dist.Protocol.Power;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>
/// The agent: registers once, then polls its higher system for work, downloads and verifies each
/// segment, installs, and reports. Each work item is a ticket stored before it is acted on, so a
/// restart neither loses nor repeats work.
/// </summary>
public sealed class AgentRuntime : IDisposable
{
    private readonly AgentOptions _options;
    private readonly AgentStateStore _store;
    private readonly HigherSystemClient _client;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private AgentIdentity? _identity;
    private DateTime _factsCheckedAt = DateTime.MinValue;

    private readonly IRelayPackageStore? _relayStore;

    /// <summary>An agent runtime; <paramref name="relayStore"/> is set when this agent is a relay's own client role (transfer-to-relay work stores packages there).</summary>
    public AgentRuntime(AgentOptions options, ILogger logger, HttpMessageHandler? handler = null, TimeProvider? time = null, IRelayPackageStore? relayStore = null)
    {
        // Commands refuse it first with the same text; a runtime built by other code must not skip the rule.
        foreach (var url in options.HigherSystemUrls)
        {
            if (PlainHttp.ConnectRefusal("agent", url, options.AllowInsecureHttp) is { } refusal)
            {
                throw new ArgumentException(refusal, nameof(options));
            }
        }
        _relayStore = relayStore;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _store = new AgentStateStore(options.StateFolder);
        _power = new PowerActions(_store, options, logger, _time);
        _pin = AgentTrust.ExpectedPin(options.CertificatePin, _store.LoadIdentity(), options.Token);
        // A relay's certificate issued by the manager's signing key is trusted too: an agent below a relay needs only its token.
        var systems = new HigherSystems(options.HigherSystemUrls, _time) { ReturnAfter = options.ReturnToFirstAfter, Moved = (from, to, back) => LogMove(logger, from, to, back) };
        _client = new HigherSystemClient(systems, handler, _pin,
            () => AgentTrust.TrustedIssuerFingerprints(_identity ?? _store.LoadIdentity(), options.Token, _time.GetUtcNow().UtcDateTime))
        {
            AnswerTimeout = options.Once ? options.OnceTimeout : null,
        };
    }

    /// <summary>The pin the higher system's certificate is held to (see <see cref="AgentTrust.ExpectedPin"/>).</summary>
    private readonly string? _pin;

    /// <summary>A restart or shutdown a job asked for, run once the agent's work is done.</summary>
    private readonly PowerActions _power;

    /// <summary>The agent's state folder.</summary>
    public AgentStateStore Store => _store;

    /// <summary>Does everything pending and returns: unreported results, interrupted work, then every item the higher system has now.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        _power.SettleAtStart();
        try
        {
            await RunOnceWorkAsync(cancellationToken);
        }
        finally
        {
            // A restart a job asked for runs at the end of the run, after its grace: the work that could be done is done.
            if (_power.DueIn() is { } left && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(left, _time, cancellationToken);
                if (await _power.RunIfDueAsync(Busy(), cancellationToken))
                {
                    await ReportPowerDoneAsync(cancellationToken);
                }
            }
        }
    }

    private async Task RunOnceWorkAsync(CancellationToken cancellationToken)
    {
        if (!await EnsureRegisteredAsync(cancellationToken))
        {
            return; // waiting for approval: nothing to do yet, and not an error
        }
        await RecoverAsync(cancellationToken);
        await ReportPowerDoneAsync(cancellationToken);
        await ReportFactsIfChangedAsync(force: false, cancellationToken);
        await RunDueInstallsAsync(cancellationToken);
        while (true)
        {
            var work = await CallAsync(() => _client.GetWorkAsync(TimeSpan.Zero, cancellationToken), cancellationToken);
            LearnSigningKeys(work.SigningKeys);
            await TakePowerOrdersAsync(work.PowerOrders, cancellationToken);
            EndOffers(work);
            var fresh = await ProcessAsync(work.Items, cancellationToken);
            if (fresh == 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Whether an install this agent ran since it started ended with a reboot code: the computer must restart to finish
    /// (`jp1dist agent --once` exits with 3010 then, for startup scripts).
    /// </summary>
    public bool RebootRequired { get; private set; }

    /// <summary>
    /// How many work items this agent decided Failed since it started: an install command's failure, a transfer, a work
    /// item refused for its signatures, a fault of this computer during a job (`jp1dist agent --once` exits with 1 then).
    /// Outcomes the higher system decided elsewhere do not count.
    /// </summary>
    public int FailedCount { get; private set; }

    /// <summary>The longest a node waits between attempts to reach its higher system by default (the ceiling of its jittered back-off).</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private Backoff NewBackoff(TimeSpan first) => new(first < _options.MaxBackoff ? first : _options.MaxBackoff, _options.MaxBackoff);

    /// <summary>Runs until stopped: long-polls and processes work, riding out an unreachable higher system.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = NewBackoff(TimeSpan.FromSeconds(1));
        _power.SettleAtStart();
        // This computer's user lists and installs offered packages through the running agent (jp1dist available, install).
        await using var channel = LocalChannel.Open(_store.Folder, HandleLocalAsync, _logger);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (!await EnsureRegisteredAsync(cancellationToken))
                {
                    await Task.Delay(_options.PendingRecheckInterval, _time, cancellationToken);
                    continue;
                }
                await RecoverAsync(cancellationToken);
                await ReportFactsIfChangedAsync(force: false, cancellationToken);
                await RunDueInstallsAsync(cancellationToken);
                // Between rounds nothing of this agent runs: a restart or shutdown asked for may run here once its grace has passed.
                await _power.RunIfDueAsync(Busy(), cancellationToken);
                await ReportPowerDoneAsync(cancellationToken);
                var wait = PollWait();
                var work = await CallAsync(() => _client.GetWorkAsync(wait, cancellationToken), cancellationToken);
                LearnSigningKeys(work.SigningKeys);
                await TakePowerOrdersAsync(work.PowerOrders, cancellationToken);
                EndOffers(work);
                if (await ProcessAsync(work.Items, cancellationToken) == 0 && work.Items.Count > 0)
                {
                    // Served only work that waits (this clock is behind the manager's): do not ask again at once.
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
                }
                backoff.Reset();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not (CredentialRevokedException or EnrollmentRefusedException or InvalidOperationException)
                && (e is not OperationCanceledException || HigherSystemClient.IsTransient(e)))
            {
                // No answer ends the agent (only the three above do): it says what happened and asks again later, spread
                // by the jitter.
                var delay = backoff.Next();
                LogRetry(e, delay);
                try
                {
                    await Task.Delay(delay, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    /// <summary>
    /// Says why the agent asks again after <paramref name="delay"/>: a fault of this computer outside any work item (a full
    /// disk or a denied path while it records its identity or facts: <see cref="LocalFault"/>), a higher system it does not
    /// trust (someone else may answer at that address: an error), one it cannot reach or that is briefly unavailable, an
    /// answer it has no use for (a 4xx, 429, a body it cannot read), or another failure.
    /// </summary>
    private void LogRetry(Exception e, TimeSpan delay)
    {
        // A failure that moved the agent on names the system that failed and the one asked next (the same one when there is one).
        var failed = _client.Systems.LastFailed ?? Higher;
        if (LocalFault.Of(e) is { } fault)
        {
            // This computer's fault, not the higher system's: an error an administrator must see, named as what it is.
            _logger.LogError("A fault on this computer stopped the agent's work ({Kind}): {Error} Trying again in {Delay:0.0} s", fault.Kind, fault.Message, delay.TotalSeconds);
        }
        else if (e is CertificatePinMismatchException or SigningKeyMismatchException)
        {
            _logger.LogError("Refused the higher system {Url}: {Error} Trying {Next} in {Delay:0.0} s", failed, e.Message, Higher, delay.TotalSeconds);
        }
        else if (e is HigherSystemException refused)
        {
            // Before "not reachable": a 503 that names its reason (a relay's disk is full) was answered, and says so.
            // An answer that moved the agent on (5xx) came from the one that failed; any other from the one it still asks.
            _logger.LogWarning("The higher system {Url} answered {Status} {ErrorId}: {Error} Trying {Next} in {Delay:0.0} s",
                HigherSystemClient.IsTransient(e) ? failed : Higher, (int)refused.Status, refused.ErrorId, e.Message, Higher, delay.TotalSeconds);
        }
        else if (HigherSystemClient.IsTransient(e))
        {
            _logger.LogWarning("The higher system {Url} is not reachable ({Error}); trying {Next} in {Delay:0.0} s", failed, e.Message, Higher, delay.TotalSeconds);
        }
        else
        {
            _logger.LogError(e, "Unexpected failure ({Error}); trying again in {Delay:0.0} s", e.Message, delay.TotalSeconds);
        }
    }

    /// <summary>Says that the node asks another higher system from now on: a stand-in after a failure, or its first again.</summary>
    public static void LogMove(ILogger logger, Uri from, Uri to, bool back)
    {
        if (back)
        {
            logger.LogInformation("Trying the first higher system {To} again after {From} stood in for it", to, from);
        }
        else
        {
            logger.LogWarning("The higher system {From} cannot serve; trying {To} from now on", from, to);
        }
    }

    /// <summary>The higher system the next call goes to (the first, or a stand-in while the first cannot serve).</summary>
    private Uri Higher => _client.Current;

    /// <summary>The higher systems this agent uses, the one in use and the one that last failed.</summary>
    public HigherSystems HigherSystems => _client.Systems;

    /// <summary>True when the agent is registered; false while its registration waits for an administrator's approval.</summary>
    private async Task<bool> EnsureRegisteredAsync(CancellationToken cancellationToken)
    {
        _identity ??= _store.LoadIdentity();
        // The credential belongs to the system, not to one address: a manager that moved keeps its agents.
        // A credential the higher system refuses is dropped (see CallAsync) and the agent registers again; the file still
        // holding that refused credential is not taken up again (a registration that failed left it there).
        if (_identity is not null && _identity.Credential == _refusedCredential)
        {
            var refused = _identity;
            _identity = null;
            await RegisterAsync(refused, cancellationToken);
            return _identity is { Pending: false };
        }
        if (_identity is not null && string.Equals(_identity.Name, _options.Name, StringComparison.OrdinalIgnoreCase))
        {
            if (_identity.Pending)
            {
                return await AskWhetherApprovedAsync(_identity, cancellationToken);
            }
            if (!(_identity.FailoverUrls ?? []).SequenceEqual(_options.FailoverUrls))
            {
                // The stand-ins this agent was started with, for the user's commands that run without it.
                _identity = _identity with { FailoverUrls = _options.FailoverUrls.Count == 0 ? null : [.. _options.FailoverUrls] };
                _store.SaveIdentity(_identity);
            }
            _client.Identity = _identity;
            return true;
        }
        await RegisterAsync(held: null, cancellationToken);
        return _identity is { Pending: false };
    }

    private bool _pendingLogged;

    /// <summary>The credential the higher system last refused: not used again, whoever's file still holds it.</summary>
    private string? _refusedCredential;

    /// <summary>
    /// Asks again, with the id and credential received while pending, whether the registration was approved: a light
    /// registration (no inventory; the manager keeps the facts of the first one and counts no token use). Approved, the
    /// agent is registered from here on; denied, the answer is CredentialRevoked and the agent stops.
    /// </summary>
    private async Task<bool> AskWhetherApprovedAsync(AgentIdentity pending, CancellationToken cancellationToken)
    {
        if (!_pendingLogged)
        {
            LogPending(pending);
        }
        var token = EnrollmentTokenText.TryParse(_options.Token);
        var registration = HostFacts.CollectBasic(token?.Secret ?? "", _options.Name) with
        {
            Kind = _options.Kind,
            RelayUrl = _options.RelayUrl,
            SigningKeyFingerprint = token?.SigningKeyFingerprint,
            HostId = pending.HostId,
            Credential = pending.Credential,
        };
        RegisterResponse response;
        try
        {
            response = await CallAsync(() => _client.RegisterAsync(registration, cancellationToken), cancellationToken);
        }
        catch (HigherSystemException e) when (e.Status == HttpStatusCode.Unauthorized && !string.IsNullOrWhiteSpace(_options.Token))
        {
            // The manager no longer knows this waiting registration (not revoked: that stops above): ask anew with the token.
            _logger.LogWarning("The higher system no longer knows the registration waiting for approval ({Error}); registering again with the enrollment token", e.Message);
            _identity = null;
            await RegisterAsync(pending, cancellationToken);
            return _identity is { Pending: false };
        }
        if (response.Pending)
        {
            return false;
        }
        // The approved answer's key is held to the same rule as the first answer: the token's key, or one its announcements
        // lead to; without the token, the key the waiting registration was answered with (or one its announcements lead to).
        var (anchor, chain) = AgentTrust.CheckSigningKey(token ?? new EnrollmentTokenText("", Fingerprints.OfPublicKey(pending.ManifestPublicKey), null),
            response, _time.GetUtcNow().UtcDateTime);
        _identity = pending with
        {
            HostId = response.HostId,
            Credential = response.Credential,
            ManifestPublicKey = anchor,
            SigningKeyAnnouncements = chain.Count > 0 ? chain : null,
            Pending = false,
        };
        _store.SaveIdentity(_identity);
        _client.Identity = _identity;
        _logger.LogInformation("Approved: registered as {Name} ({HostId}) with {Url}", _options.Name, response.HostId, Higher);
        return true;
    }

    private void LogPending(AgentIdentity pending)
    {
        _pendingLogged = true;
        _logger.LogWarning("The registration of {Name} ({HostId}) with {Url} waits for an administrator's approval (Get-DistHost -Pending, then "
            + "Approve-DistHost -Name {Name}); this agent gets no work until then and starts as soon as it is approved", _options.Name, pending.HostId,
            Higher, _options.Name);
    }

    /// <summary>
    /// Registers with the enrollment token. <paramref name="held"/> is the identity the higher system just refused, if
    /// any: its host id and credential go with the registration, because an enrolled name registers again only with
    /// the credential it holds (the manager refuses anyone else, so that nobody takes over a host by its name).
    /// </summary>
    private async Task RegisterAsync(AgentIdentity? held, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(_options.Token))
        {
            throw new NotRegisteredException(
                $"The agent is not registered with {_options.ManagerUrl} as '{_options.Name}' and has no enrollment token; start it with --token (New-DistEnrollmentToken creates one).");
        }
        // Only the secret goes to the higher system; the fingerprints are what this agent holds the answer to.
        var token = EnrollmentTokenText.TryParse(_options.Token) ?? throw new NotRegisteredException(
            "The enrollment token is not one: expected SECRET[.SIGNINGKEYFINGERPRINT[.CERTIFICATEPIN]] as New-DistEnrollmentToken prints it.");
        var registration = HostFacts.Collect(token.Secret, _options.Name) with
        {
            Kind = _options.Kind,
            RelayUrl = _options.RelayUrl,
            SigningKeyFingerprint = token.SigningKeyFingerprint,
            HostId = held?.HostId,
            Credential = held?.Credential,
            // Kept on disk before it is sent: asked again after a lost answer, this is the same registration.
            ChosenCredential = _store.ChosenCredential(),
        };
        RegisterResponse response;
        try
        {
            response = await CallAsync(() => _client.RegisterAsync(registration, cancellationToken), cancellationToken);
        }
        catch (HigherSystemException e) when (IsRefusedEnrollment(e))
        {
            throw new EnrollmentRefusedException(e.ErrorId,
                $"The higher system {Higher} refused to register '{_options.Name}' ({e.ErrorId}): {e.Message} This agent stops: asking again "
                + "would be refused the same way. The administrator must give it a valid token (New-DistEnrollmentToken), or settle the name.", e);
        }
        var (anchor, chain) = AgentTrust.CheckSigningKey(token, response, _time.GetUtcNow().UtcDateTime);
        _store.SaveFactsHash(HostFacts.Hash(new FactsReport(registration.OS, registration.OSVersion, registration.Architecture,
            registration.Addresses, registration.MacAddress, registration.AgentVersion, registration.Inventory)));
        _factsCheckedAt = DateTime.UtcNow;
        _identity = new AgentIdentity(_options.ManagerUrl, _options.Name, response.HostId, response.Credential, anchor, _pin, chain.Count > 0 ? chain : null, response.Pending,
            _options.FailoverUrls.Count == 0 ? null : [.. _options.FailoverUrls]);
        _store.SaveIdentity(_identity);
        _store.ForgetChosenCredential();
        if (response.Pending)
        {
            // Kept on disk, so a restart asks again with it instead of registering anew.
            _client.Identity = null;
            LogPending(_identity);
            return;
        }
        _client.Identity = _identity;
        _logger.LogInformation("Registered as {Name} ({HostId}) with {Url}", _options.Name, response.HostId, Higher);
    }

    /// <summary>
    /// Reads the facts again (at start, every FactsInterval, and after each install) and reports them when they
    /// differ from what the higher system last acknowledged; a policy may admit the host into an ID group then.
    /// </summary>
    private async Task ReportFactsIfChangedAsync(bool force, CancellationToken cancellationToken)
    {
        if (!force && DateTime.UtcNow - _factsCheckedAt < _options.FactsInterval)
        {
            return;
        }
        _factsCheckedAt = DateTime.UtcNow;
        var facts = HostFacts.CollectFacts();
        var hash = HostFacts.Hash(facts);
        if (string.Equals(hash, _store.LoadFactsHash(), StringComparison.Ordinal))
        {
            return;
        }
        await CallAsync(async () => { await _client.ReportFactsAsync(facts, cancellationToken); return true; }, cancellationToken);
        _store.SaveFactsHash(hash);
        _logger.LogInformation("Reported changed facts ({Software} software packages)", facts.Inventory?.Software.Count ?? 0);
    }

    /// <summary>Sends results that were not acknowledged, and closes tickets whose install was interrupted.</summary>
    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        foreach (var found in _store.AllTickets())
        {
            using var claim = _store.TryClaim(found.Item.WorkItemId);
            if (claim is null || _store.LoadTicket(found.Item.WorkItemId) is not { } ticket)
            {
                continue; // another process on this state folder acts on it (a user's jp1dist install) and reports it
            }
            if (ticket.Phase == TicketPhase.Installing && ticket.Result is null)
            {
                await SettleInterruptedInstallAsync(ticket, cancellationToken);
            }
            if (ticket.Phase == TicketPhase.Completed && !ticket.Reported)
            {
                await SendResultAsync(ticket, cancellationToken);
            }
        }
    }

    /// <summary>
    /// A ticket this agent left in Installing when it stopped: the install command may have run, so it is never run again
    /// (at most once). The install wrapper's record tells the rest: a command still running is waited for (within its own
    /// time limit); one that ended while the agent was down is reported as it ended; one whose wrapper is gone without a
    /// record (killed with the agent, or the computer went down) is reported Failed, saying so.
    /// </summary>
    private async Task SettleInterruptedInstallAsync(Ticket ticket, CancellationToken cancellationToken)
    {
        var job = ticket.Item.JobName;
        var folder = _store.InstallRecordFolder(ticket.Item.WorkItemId);
        var started = InstallRecord.ReadStarted(folder);
        var ended = InstallRecord.ReadEnded(folder);
        if (ended is null && started is not null && started.Wrapper.IsRunning())
        {
            var deadline = started.Wrapper.StartedAt + TimeSpan.FromSeconds(started.TimeoutSeconds) + InstallWrapper.Slack;
            _logger.LogInformation("Job {Job}: the install command started before this agent stopped is still running (install wrapper, process {Process}); "
                + "waiting for it to end, until {Deadline:u} at the latest", job, started.Wrapper.ProcessId, deadline);
            while ((ended = InstallRecord.ReadEnded(folder)) is null && started.Wrapper.IsRunning())
            {
                if (_time.GetUtcNow().UtcDateTime >= deadline)
                {
                    _logger.LogWarning("Job {Job}: the install wrapper (process {Process}) ran past the command's limit of {Seconds} s and is stopped with the command",
                        job, started.Wrapper.ProcessId, started.TimeoutSeconds);
                    started.Wrapper.Kill();
                    break;
                }
                await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
            }
            ended ??= InstallRecord.ReadEnded(folder); // it may have recorded just before it ended
        }
        if (ended is null)
        {
            var message = started is null
                ? "The agent stopped while the install command was running; it is not run again. Re-execute the job to try again."
                : "The agent stopped while the install command was running, and the command ended without a record of how (its wrapper was stopped "
                    + "with the agent, or the computer went down); it is not run again. Re-execute the job to try again.";
            _logger.LogWarning("Job {Job}: {Message}", job, message);
            await CompleteAsync(ticket, new TicketResult("Failed", null, message, null), cancellationToken);
            return;
        }
        const string Went = " (The agent was stopped during the install; the install command went on, and this is how it ended.)";
        var verdict = Verify(ticket, null);
        if (!verdict.Accepted)
        {
            var refused = $"The install command ended (exit code {ended.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}) while the agent was stopped, "
                + $"but its work item no longer verifies ({verdict.Refusal}), so the code is not read against the package.";
            _logger.LogWarning("Job {Job}: {Message}", job, refused);
            await CompleteAsync(ticket, new TicketResult("Failed", ended.ExitCode, refused, ended.OutputTail), cancellationToken);
            return;
        }
        var outcome = InstallRunner.Interpret(verdict.Manifest!, ended);
        await FinishInstallAsync(ticket, verdict.Manifest!, verdict.Settings!, outcome with { Message = outcome.Message + Went }, cancellationToken);
    }

    /// <summary>Processes each item; returns how many were not already completed here.</summary>
    private async Task<int> ProcessAsync(IReadOnlyList<WorkItem> items, CancellationToken cancellationToken)
    {
        var fresh = 0;
        foreach (var item in items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var ticket = _store.LoadTicket(item.WorkItemId);
            if (ticket is { Phase: TicketPhase.Completed })
            {
                // The higher system did not get our result: tell it again, do not run again.
                await SendResultAsync(ticket, cancellationToken);
                continue;
            }
            DateTime? receivedNow = null;
            var changed = false;
            if (ticket is null)
            {
                receivedNow = _time.GetUtcNow().UtcDateTime; // a new item must not have expired
                ticket = new Ticket { Item = item, Phase = TicketPhase.Received, ReceivedAt = receivedNow };
                changed = true;
            }
            else if (ticket.Held)
            {
                // Served again, so no longer suspended: go on from where it stopped.
                ticket.Held = false;
                changed = true;
            }
            if (await ExecuteAsync(ticket, cancellationToken, receivedNow, save: changed))
            {
                fresh++;
            }
        }
        return fresh;
    }

    /// <summary>Installs the downloaded packages whose install time has come; they are kept on disk, so this survives restarts.</summary>
    private async Task RunDueInstallsAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        foreach (var ticket in _store.AllTickets().Where(t => t is { Phase: TicketPhase.Downloaded, Held: false, Result: null } && t.InstallAt <= now))
        {
            _logger.LogInformation("Job {Job}: its install time {InstallAt:u} has come", ticket.Item.JobName, ticket.InstallAt);
            await ExecuteAsync(ticket, cancellationToken);
        }
    }

    /// <summary>How long to wait for work: the poll wait, shortened so the agent wakes at the next install time.</summary>
    private TimeSpan PollWait()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var next = _store.AllTickets().Where(t => t is { Phase: TicketPhase.Downloaded, Held: false, Result: null } && t.InstallAt > now)
            .Select(t => t.InstallAt!.Value).DefaultIfEmpty(DateTime.MaxValue).Min();
        var until = next - now;
        if (_power.DueIn() is { } restart && restart < until)
        {
            until = restart; // wake when a restart a job asked for may run
        }
        return until >= _options.PollWait ? _options.PollWait : TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(until.TotalSeconds)));
    }

    /// <summary>
    /// Whether work of this agent runs or is due, so the computer must not restart now: an install whose outcome is not
    /// known yet, or a ticket received and not yet transferred (its transfer resumes at the next round). Suspended tickets
    /// and installs that wait for their install time do not hold a restart.
    /// </summary>
    private bool Busy() => _store.AllTickets().Any(t => t is { Result: null, Held: false, Phase: TicketPhase.Installing or TicketPhase.Received });

    /// <summary>
    /// Takes a ticket as far as it can go now (<see cref="ExecuteStepsAsync"/>), saving it first when <paramref name="save"/>
    /// (stored before it is acted on). A fault of this computer on the way (<see cref="LocalFault"/>: a full disk, a denied
    /// path, a folder that cannot be created) ends the ticket Failed with the fault named and its files removed
    /// (<see cref="FailLocallyAsync"/>), instead of leaving it to be taken for an unreachable higher system and retried for ever.
    /// Returns false when it only waits (for its install time), so a caller does not spin on it.
    /// </summary>
    private async Task<bool> ExecuteAsync(Ticket ticket, CancellationToken cancellationToken, DateTime? receivedNow = null, bool save = false)
    {
        using var claim = _store.TryClaim(ticket.Item.WorkItemId);
        if (claim is null)
        {
            // Another process on this state folder (a user's jp1dist install) acts on it now; it reports what becomes of it.
            _logger.LogInformation("Job {Job}: work item {WorkItem} is being acted on by another process on this state folder; leaving it to it", ticket.Item.JobName, ticket.Item.WorkItemId);
            return false;
        }
        if (!save && _store.LoadTicket(ticket.Item.WorkItemId) is { } current
            && (current.Phase != ticket.Phase || current.ChosenAt != ticket.ChosenAt || current.Result is not null))
        {
            // Moved on by another process since it was read: act on it as it is now, and never on an outcome again.
            if (current.Result is not null || current.Phase is TicketPhase.Installing or TicketPhase.Completed)
            {
                return false;
            }
            ticket = current;
        }
        try
        {
            if (save)
            {
                _store.SaveTicket(ticket);
            }
            return await ExecuteStepsAsync(ticket, receivedNow, cancellationToken);
        }
        catch (LocalFaultException e) when (ticket.Result is null)
        {
            // Only before an outcome exists: once an install ran, its own result is what is reported.
            await FailLocallyAsync(ticket, e.Fault, cancellationToken);
            return true;
        }
    }

    /// <summary>
    /// Ends a ticket that a local fault stopped: its files go first (on a full disk they are what would keep the result
    /// from being recorded), then the result is recorded and sent: Failed, naming the fault, what became of the files, and
    /// what to do. Not retried here: the agent cannot free space or change permissions, and a job with a retry limit
    /// is queued again by the manager (the one retry rule, with its delay and count shown in the status).
    /// </summary>
    private async Task FailLocallyAsync(Ticket ticket, LocalFault fault, CancellationToken cancellationToken)
    {
        var id = ticket.Item.WorkItemId;
        var freed = _store.ReleaseFiles(id);
        var files = _store.HoldsFiles(id)
            ? $" Its files in '{_store.TicketFolder(id)}' could not all be removed."
            : freed > 0 ? $" Its partial files ({LocalFault.FormatBytes(freed)}) were removed." : "";
        var message = $"{fault.Message}{files} {fault.Advice}";
        _logger.LogError("Job {Job}: {Kind} on this computer: {Message}", ticket.Item.JobName, fault.Kind, message);
        await CompleteAsync(ticket, new TicketResult("Failed", null, message, null), cancellationToken);
    }

    /// <summary>
    /// Takes a ticket as far as it can go now: verify, pre-check, download, wait for the install time, check, install.
    /// Returns false when it only waits (for its install time), so a caller does not spin on it.
    /// </summary>
    /// <param name="ticket">The ticket, as stored.</param>
    /// <param name="cancellationToken">Stops the work at its next safe point.</param>
    /// <param name="receivedNow">
    /// For an item just received, the time now: an expired one is refused then, so an old signed item replayed later
    /// does nothing. Null for a ticket already accepted, whose expiry no longer matters.
    /// </param>
    private async Task<bool> ExecuteStepsAsync(Ticket ticket, DateTime? receivedNow, CancellationToken cancellationToken)
    {
        var item = ticket.Item;
        // Checked on every step (a ticket on disk is only as good as its signatures), and against what is installed now.
        var verdict = Verify(ticket, receivedNow);
        if (!verdict.Accepted)
        {
            await RefuseAsync(ticket, verdict, cancellationToken);
            return true;
        }
        var manifest = verdict.Manifest!;
        var settings = verdict.Settings!;
        if (string.Equals(settings.JobType, "TransferToRelay", StringComparison.OrdinalIgnoreCase))
        {
            await StoreOnRelayAsync(ticket, manifest, settings, cancellationToken);
            return true;
        }
        var userChoice = SignedWork.IsUserChoice(settings);
        if (userChoice && ticket.ChosenAt is null)
        {
            return await OfferAsync(ticket, manifest, settings, cancellationToken);
        }
        if (userChoice && ticket.Phase == TicketPhase.Received
            && SignedWork.RollbackRefusal(manifest, name => _store.LoadInstalled().GetValueOrDefault(name)) is { } rollback)
        {
            // Offering an older version is no rollback; installing it is, and the user's choice is held to the same rule as a job.
            await RefuseAsync(ticket, new SignedWorkVerdict(null, null, rollback), cancellationToken);
            return true;
        }
        // The manager puts the effective conditions and install time (job over package) in the signed settings. A user's
        // choice is its install time.
        var conditions = settings.InstallConditions;
        var installAt = userChoice ? null : settings.InstallAt;
        if (ticket.InstallAt != installAt)
        {
            ticket.InstallAt = installAt;
            _store.SaveTicket(ticket);
        }
        var staging = _store.StagingFolder(item.WorkItemId);
        if (ticket.Phase == TicketPhase.Received)
        {
            // Facts only (no check program) before fetching: no point downloading what cannot be installed here.
            if (conditions is not null && await AgentConditions.CheckAsync(conditions, _store, staging, runCheckProgram: false, cancellationToken) is { Met: false } early)
            {
                await ConditionNotMetAsync(ticket, early, cancellationToken);
                return true;
            }
            if (userChoice && settings.PreDownload && ticket.BytesTransferred == manifest.TotalBytes)
            {
                // Downloaded ahead (-PreDownload): the transfer below finds every file staged and verified, and fetches nothing.
                _logger.LogInformation("Job {Job}: {Package} {Version} was downloaded ahead; installing from the staged copy", item.JobName, manifest.Name, manifest.Version);
            }
            else
            {
                _logger.LogInformation("Job {Job}: downloading {Package} {Version} ({Bytes} bytes)", item.JobName, manifest.Name, manifest.Version, manifest.TotalBytes);
            }
            if (await StopsAsync(ticket, await ReportAsync(ticket, "Transferring", cancellationToken), cancellationToken))
            {
                return true;
            }
            try
            {
                if (!await DownloadAsync(ticket, manifest, settings, staging, cancellationToken))
                {
                    return true; // suspended or canceled at a segment boundary
                }
            }
            catch (Exception e) when (e is ContentVerificationException or HigherSystemException { Status: HttpStatusCode.NotFound })
            {
                _logger.LogWarning("Job {Job}: the transfer of {Package} {Version} failed: {Error}", item.JobName, manifest.Name, manifest.Version, e.Message);
                await CompleteAsync(ticket, new TicketResult("Failed", null, $"The transfer failed: {e.Message}", null), cancellationToken);
                return true;
            }
            ticket.Phase = TicketPhase.Downloaded;
            _store.SaveTicket(ticket);
            // Transferred says the host holds the package and waits for its install time (the manager does not serve it
            // again before then). An install that follows at once claims the target with Installing next, which moves it
            // from Transferring: a report fewer for every target of such a job, a quarter of what a fleet sends for it.
            if (WaitsForInstallTime(installAt) && await StopsAsync(ticket, await ReportAsync(ticket, "Transferred", cancellationToken), cancellationToken))
            {
                return true;
            }
        }

        if (WaitsForInstallTime(installAt))
        {
            // Kept on disk (phase Downloaded with its install time): RunDueInstallsAsync installs it then, across restarts.
            _logger.LogInformation("Job {Job}: {Package} {Version} is here; it installs at {InstallAt:u}", item.JobName, manifest.Name, manifest.Version, installAt);
            return false;
        }
        if (conditions is not null && await AgentConditions.CheckAsync(conditions, _store, staging, runCheckProgram: true, cancellationToken) is { Met: false } unmet)
        {
            await ConditionNotMetAsync(ticket, unmet, cancellationToken);
            return true;
        }
        // Claim the install first: a target suspended or canceled meanwhile is not installed.
        if (await StopsAsync(ticket, await ReportAsync(ticket, "Installing", cancellationToken), cancellationToken))
        {
            return true;
        }
        // Recorded before the command starts: an agent that dies from here on reports, never re-runs.
        ticket.Phase = TicketPhase.Installing;
        _store.SaveTicket(ticket);
        _logger.LogInformation("Job {Job}: installing {Package} {Version}", item.JobName, manifest.Name, manifest.Version);
        var outcome = await InstallRunner.RunAsync(manifest, staging, _options.Name, item.JobName, _options.InstallWrapper,
            _store.InstallRecordFolder(item.WorkItemId), CancellationToken.None);
        await FinishInstallAsync(ticket, manifest, settings, outcome, cancellationToken);
        return true;
    }

    /// <summary>
    /// Ends a ticket whose install command ran, whether this agent waited for it or found how it ended at its next start:
    /// records what is installed, asks for a restart a reboot code and the job call for, reports the result and the facts.
    /// </summary>
    private async Task FinishInstallAsync(Ticket ticket, PackageManifest manifest, JobSettings settings, InstallOutcome outcome, CancellationToken cancellationToken)
    {
        var job = ticket.Item.JobName;
        _logger.Log(outcome.Succeeded ? LogLevel.Information : LogLevel.Warning, "Job {Job}: {Outcome}", job, outcome.Message);
        if (outcome.Succeeded)
        {
            try
            {
                _store.RecordInstalled(manifest.Name, manifest.Version);
            }
            catch (LocalFaultException e)
            {
                // The install ran: its result is what counts, and it is reported.
                _logger.LogWarning("Job {Job}: installed, but the record of it could not be written ({Error}); software conditions on this computer do not see it",
                    job, e.Message);
            }
        }
        var message = outcome.Message;
        if (outcome.Meaning == ExitCodeMeaning.RebootRequired)
        {
            RebootRequired = true;
            message += RestartAfter(job, settings);
        }
        message += ShutdownAfter(job, settings, ticket.Item.WorkItemId);
        await CompleteAsync(ticket, new TicketResult(outcome.ReportStatus, outcome.ExitCode, message, outcome.OutputTail), cancellationToken);
        await ReportFactsIfChangedAsync(force: true, cancellationToken);
    }

    /// <summary>
    /// For an install that ended with a reboot code: when its job asks for the restart (-RebootAfter), asks for it and says
    /// so in the result (when it was asked, and when it runs at the earliest); else says that the restart is left to the
    /// computer's user or administrator.
    /// </summary>
    private string RestartAfter(string job, JobSettings settings)
    {
        if (!settings.RebootAfter)
        {
            return " The job does not restart the computer (New-DistJob -RebootAfter would).";
        }
        var asked = _power.Ask(PowerAction.Reboot, $"job '{job}' (-RebootAfter)");
        return $" Restart asked at {asked.AskedAt:yyyy-MM-dd HH:mm:ss} UTC (-RebootAfter): the computer restarts once no install or transfer runs, "
            + $"{_options.PowerGrace.TotalSeconds:0} s after that at the earliest.";
    }

    /// <summary>
    /// For an install of a job that asks for a shutdown (-ShutdownAfter), whatever its outcome: asks for it and says so in the
    /// result (when it was asked, and when it runs at the earliest). Empty when the job does not ask.
    /// </summary>
    private string ShutdownAfter(string job, JobSettings settings, Guid workItemId)
    {
        if (!settings.ShutdownAfter)
        {
            return "";
        }
        var asked = _power.Ask(PowerAction.Shutdown, $"job '{job}' (-ShutdownAfter)", reportTo: workItemId);
        return $" Shutdown asked at {asked.AskedAt:yyyy-MM-dd HH:mm:ss} UTC (-ShutdownAfter): the computer shuts down once no install or transfer runs, "
            + $"{_power.GraceOf(asked).TotalSeconds:0} s after that at the earliest.";
    }

    /// <summary>Power orders already refused here and logged, by signature: logged once each.</summary>
    private readonly HashSet<string> _refusedOrders = new(StringComparer.Ordinal);

    /// <summary>
    /// Takes the power orders (Stop-DistHost) that came with a work answer: each is checked against the manager's keys, this
    /// host and its expiry (<see cref="SignedPowerOrder.Verify"/>) before anything is asked of the computer, taken once (its
    /// id kept in the state folder), and reported: Asked with when and the grace, or Refused with why (a relay or proxy
    /// cannot make a computer shut down).
    /// </summary>
    private async Task TakePowerOrdersAsync(IReadOnlyList<SignedPowerOrder>? orders, CancellationToken cancellationToken)
    {
        foreach (var signed in orders ?? [])
        {
            if (signed is null || _identity is null)
            {
                continue;
            }
            var now = _time.GetUtcNow().UtcDateTime;
            var order = signed.Verify(AgentTrust.TrustedPublicKeys(_identity, now), _identity.HostId, now, out var refusal);
            if (order is null)
            {
                if (_refusedOrders.Add(signed.Signature ?? ""))
                {
                    _logger.LogWarning("A power order from the higher system was refused ({Refusal}); this computer is not shut down for it", refusal);
                }
                if (SignedPowerOrder.Read(signed) is { } unread && unread.HostId == _identity.HostId)
                {
                    await TellPowerAsync(new ReportRequest(unread.OrderId, PowerReports.Refused, Message: $"The agent refused the shutdown order: {refusal}."), cancellationToken);
                }
                continue;
            }
            PowerRequest? asked;
            if (_store.PowerOrderTaken(order.OrderId))
            {
                asked = _store.LoadPowerRequest(); // taken before (its report was lost): told again, never acted on twice
            }
            else
            {
                asked = _power.Ask(PowerAction.Shutdown, order.Reason, reportTo: order.OrderId, graceSeconds: order.GraceSeconds);
                _store.RememberPowerOrder(order.OrderId, order.ExpiresAt);
            }
            await TellPowerAsync(new ReportRequest(order.OrderId, PowerReports.Asked, Message: asked is null
                ? $"The agent took this shutdown order before ({order.Reason})."
                : $"Shutdown asked at {asked.AskedAt:yyyy-MM-dd HH:mm:ss} UTC ({order.Reason}): the computer shuts down once no install or transfer runs, "
                    + $"{_power.GraceOf(asked).TotalSeconds:0} s after that at the earliest."), cancellationToken);
        }
    }

    /// <summary>Once a shutdown's command ran: tells each order and -ShutdownAfter work item it ran for when it was done.</summary>
    private async Task ReportPowerDoneAsync(CancellationToken cancellationToken)
    {
        if (_identity is null || _power.DoneToReport is not { RanAt: { } ran } done)
        {
            return;
        }
        foreach (var id in done.ReportTo ?? [])
        {
            await TellPowerAsync(new ReportRequest(id, PowerReports.Done,
                Message: $"{(done.Action == PowerAction.Shutdown ? "Shutdown" : "Restart")} done: the agent ran the command at {ran:yyyy-MM-dd HH:mm:ss} UTC."), cancellationToken);
        }
        _power.DoneReported(done);
    }

    /// <summary>Sends a power report; one the higher system does not know (an order it never made) is not sent again.</summary>
    private async Task TellPowerAsync(ReportRequest report, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync(() => _client.ReportAsync(report, cancellationToken), cancellationToken);
        }
        catch (HigherSystemException e) when (e.Status is HttpStatusCode.NotFound or HttpStatusCode.BadRequest)
        {
            _logger.LogWarning("The higher system did not take the power report on {Id} ({ErrorId}: {Error})", report.WorkItemId, e.ErrorId, e.Message);
        }
    }

    /// <summary>
    /// A user-choice work item not chosen yet: offered to this computer's user (reported Available, kept on disk in phase
    /// Available) when the install conditions this computer's facts decide are met; nothing is run. Nothing is fetched
    /// either, unless the job asks for the content ahead (<see cref="JobSettings.PreDownload"/>, signed): then it is
    /// downloaded and verified into the ticket's staging folder first (<see cref="PreDownloadAsync"/>), and offered once it
    /// is all there, so the user's install finds it staged and fetches nothing. Returns false when it was offered already,
    /// so a caller does not spin on it.
    /// </summary>
    private async Task<bool> OfferAsync(Ticket ticket, PackageManifest manifest, JobSettings settings, CancellationToken cancellationToken)
    {
        if (ticket.Phase == TicketPhase.Available)
        {
            return false; // waits for its user
        }
        if (settings.InstallConditions is { } conditions
            && await AgentConditions.CheckAsync(conditions, _store, _store.StagingFolder(ticket.Item.WorkItemId), runCheckProgram: false, cancellationToken) is { Met: false } unmet)
        {
            await ConditionNotMetAsync(ticket, unmet, cancellationToken);
            return true;
        }
        if (settings.PreDownload && !await PreDownloadAsync(ticket, manifest, settings, cancellationToken))
        {
            return true; // suspended, canceled or failed on the way; or stopped, to resume from its last verified segment
        }
        if (await StopsAsync(ticket, await ReportAsync(ticket, ReportStatuses.Available, cancellationToken), cancellationToken))
        {
            return true;
        }
        ticket.Phase = TicketPhase.Available;
        _store.SaveTicket(ticket);
        _logger.LogInformation("Job {Job}: {Package} {Version} is available to this computer's user (jp1dist available, jp1dist install {Package})",
            ticket.Item.JobName, manifest.Name, manifest.Version, manifest.Name);
        return true;
    }

    /// <summary>
    /// Downloads a pre-download offer's content into its staging folder through the same transfer an install uses
    /// (<see cref="DownloadAsync"/>: resumable from the last verified segment, paced by the job's interval and bandwidth
    /// cap, progress reported as Transferring). True when it is all staged; false when the transfer stopped (the ticket
    /// is held, closed or failed as an install's transfer would be).
    /// </summary>
    private async Task<bool> PreDownloadAsync(Ticket ticket, PackageManifest manifest, JobSettings settings, CancellationToken cancellationToken)
    {
        var staging = _store.StagingFolder(ticket.Item.WorkItemId);
        _logger.LogInformation("Job {Job}: downloading {Package} {Version} ({Bytes} bytes) ahead of the user's choice (-PreDownload)",
            ticket.Item.JobName, manifest.Name, manifest.Version, manifest.TotalBytes);
        if (await StopsAsync(ticket, await ReportAsync(ticket, ReportStatuses.Transferring, cancellationToken), cancellationToken))
        {
            return false;
        }
        try
        {
            return await DownloadAsync(ticket, manifest, settings, staging, cancellationToken);
        }
        catch (Exception e) when (e is ContentVerificationException or HigherSystemException { Status: HttpStatusCode.NotFound })
        {
            await CompleteAsync(ticket, new TicketResult("Failed", null, $"The transfer ahead of the user's choice (-PreDownload) failed: {e.Message}", null), cancellationToken);
            return false;
        }
    }

    /// <summary>
    /// Ends the offers this computer's user has not chosen whose time is over, after a work answer: those whose work item
    /// the answer's complete list of open items (<see cref="WorkResponse.Open"/>) leaves out (the job was removed, the target
    /// canceled or re-executed), and those whose package expired (the signed StoreUntil). Each is closed here under its
    /// claim, re-read first, so an offer a user's jp1dist install took meanwhile is left to it; its staged content (a
    /// pre-download) is removed with it. Nothing is reported: the higher system no longer has the item, or keeps its
    /// expiry itself. An answer without the list (an older node, a relay not in touch with its higher system) withdraws nothing.
    /// </summary>
    private void EndOffers(WorkResponse work)
    {
        HashSet<Guid>? open = null;
        if (work.Open is { } listed)
        {
            open = [.. listed, .. work.Items.Select(i => i.WorkItemId)];
        }
        var now = _time.GetUtcNow().UtcDateTime;
        foreach (var found in _store.AllTickets().Where(IsOffer))
        {
            var id = found.Item.WorkItemId;
            var withdrawn = open is not null && !open.Contains(id);
            if (!withdrawn && !(Verify(found, null) is { Accepted: true } verdict && verdict.Settings!.StoreUntil <= now))
            {
                continue;
            }
            using var claim = _store.TryClaim(id);
            if (claim is null || _store.LoadTicket(id) is not { } ticket || !IsOffer(ticket))
            {
                continue; // the user chose it meanwhile: an install is never withdrawn
            }
            var message = withdrawn
                ? "The offer was withdrawn: the higher system no longer has its work item open (the job was removed, or the target canceled or re-executed)."
                : "The offer ended: its package expired.";
            _logger.LogInformation("Job {Job}: {Message} {Package} is no longer available to this computer's user", ticket.Item.JobName, message, PackageOf(ticket));
            CloseLocally(ticket, "Canceled", message);
        }

        static bool IsOffer(Ticket t) => t is { Phase: TicketPhase.Available, Result: null, ChosenAt: null };
    }

    /// <summary>A ticket's package name and version as its manifest says, for a log line (the work item id when it cannot be read).</summary>
    private static string PackageOf(Ticket ticket)
    {
        try
        {
            return JsonSerializer.Deserialize<PackageManifest>(ticket.Item.Manifest, ProtocolJson.Options) is { } m ? $"{m.Name} {m.Version}" : ticket.Item.WorkItemId.ToString();
        }
        catch (JsonException)
        {
            return ticket.Item.WorkItemId.ToString();
        }
    }

    /// <summary>The packages offered to this computer's user whose signatures still verify, newest version first per name.</summary>
    public IReadOnlyList<AvailablePackage> ListAvailable()
    {
        _identity ??= _store.LoadIdentity();
        if (_identity is not { Pending: false })
        {
            return [];
        }
        var installed = _store.LoadInstalled();
        var now = _time.GetUtcNow().UtcDateTime;
        var offered = new List<AvailablePackage>();
        foreach (var ticket in _store.AllTickets().Where(t => t is { Phase: TicketPhase.Available, Result: null }))
        {
            var verdict = Verify(ticket, null);
            // An offer ends with the package's expiry, as the manager signed it.
            if (verdict.Accepted && SignedWork.IsUserChoice(verdict.Settings!) && !(verdict.Settings!.StoreUntil <= now))
            {
                var manifest = verdict.Manifest!;
                offered.Add(new AvailablePackage(manifest.Name, manifest.Version, verdict.Settings!.Description, manifest.TotalBytes,
                    string.Equals(installed.GetValueOrDefault(manifest.Name), manifest.Version, StringComparison.OrdinalIgnoreCase),
                    ticket.Item.JobName, ticket.Item.WorkItemId));
            }
        }
        return offered.OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase)
            .ThenByDescending(p => p.Version, Comparer<string>.Create(JP1Dist.Protocol.Versions.VersionComparer.Compare)).ToList();
    }

    /// <summary>
    /// Installs the package <paramref name="name"/> offered to this computer's user (the newest offered version, or
    /// <paramref name="version"/>): the same steps as an install job (signatures checked again, download from the higher
    /// system, conditions, install through the install wrapper, report), at most once. Returns the outcome; an install that
    /// ran fails or succeeds in it, and nothing offered by that name is an <see cref="ArgumentException"/> naming what is.
    /// </summary>
    public async Task<UserInstallOutcome> InstallAvailableAsync(string name, string? version, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var offered = ListAvailable();
        var chosen = offered.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)
            && (version is null || string.Equals(p.Version, version, StringComparison.OrdinalIgnoreCase)));
        if (chosen is null)
        {
            var installed = _store.LoadInstalled().GetValueOrDefault(name);
            if (installed is not null && (version is null || string.Equals(installed, version, StringComparison.OrdinalIgnoreCase)))
            {
                return new UserInstallOutcome(name, installed, "Installed", null, $"Package '{name}' {installed} is installed already; nothing was run.", null, AlreadyInstalled: true);
            }
            var names = offered.Count == 0 ? "no package is available on this computer" : "available: " + string.Join(", ", offered.Select(p => $"{p.Name} {p.Version}"));
            throw new ArgumentException($"Package '{name}'{(version is null ? "" : $" version {version}")} is not available on this computer ({names}).", nameof(name));
        }
        if (!await EnsureRegisteredAsync(cancellationToken))
        {
            throw new InvalidOperationException("This agent's registration waits for an administrator's approval; nothing can be installed until then.");
        }
        using (var claim = _store.TryClaim(chosen.WorkItemId))
        {
            if (claim is null || _store.LoadTicket(chosen.WorkItemId) is not { Phase: TicketPhase.Available, Result: null, ChosenAt: null } ticket)
            {
                throw new InvalidOperationException($"Package '{chosen.Name}' {chosen.Version} is being installed by another process on this computer already.");
            }
            // Saved before anything is fetched: from here on the item is an install, and is offered no more.
            ticket.ChosenAt = _time.GetUtcNow().UtcDateTime;
            ticket.Phase = TicketPhase.Received;
            _store.SaveTicket(ticket);
        }
        _logger.LogInformation("Job {Job}: this computer's user chose to install {Package} {Version}", chosen.JobName, chosen.Name, chosen.Version);
        var whole = await ExecuteAsync(_store.LoadTicket(chosen.WorkItemId)!, cancellationToken);
        var result = _store.LoadTicket(chosen.WorkItemId)?.Result;
        return result is null
            ? new UserInstallOutcome(chosen.Name, chosen.Version, "Failed", null,
                whole ? "The install did not finish; the agent takes it up again at its next run." : "Another process on this computer is installing it.", null)
            : new UserInstallOutcome(chosen.Name, chosen.Version, result.Status, result.ExitCode, result.Message, result.OutputTail);
    }

    /// <summary>Answers a request of this computer's user on the local channel: bad input is refused and changes nothing.</summary>
    private async Task<LocalResponse> HandleLocalAsync(LocalRequest request, CancellationToken cancellationToken)
    {
        switch (request.Op)
        {
            case LocalChannelOps.List:
                return new LocalResponse(Available: ListAvailable());
            case LocalChannelOps.Install:
                try
                {
                    return new LocalResponse(Outcome: await InstallAvailableAsync(request.Name ?? "", request.Version, cancellationToken));
                }
                catch (ArgumentException e)
                {
                    return new LocalResponse(Refusal: e.Message);
                }
                catch (Exception e) when (e is InvalidOperationException or HigherSystemException or HttpRequestException or IOException or LocalFaultException)
                {
                    _logger.LogWarning("The user's install of {Package} failed: {Error}", request.Name, e.Message);
                    return new LocalResponse(Error: e.Message);
                }
            default:
                return new LocalResponse(Refusal: $"'{request.Op}' is not a request of the local channel: use list or install.");
        }
    }

    /// <summary>A transfer-to-relay work item: the package goes into this relay's cache until it expires; nothing is installed.</summary>
    private async Task StoreOnRelayAsync(Ticket ticket, PackageManifest manifest, JobSettings settings, CancellationToken cancellationToken)
    {
        if (_relayStore is null)
        {
            await CompleteAsync(ticket, new TicketResult("Failed", null, "This host is not a relay: a transfer-to-relay job stores packages on relays only.", null), cancellationToken);
            return;
        }
        if (await StopsAsync(ticket, await ReportAsync(ticket, "Transferring", cancellationToken), cancellationToken))
        {
            return;
        }
        try
        {
            await _relayStore.StoreAsync(manifest, ticket.Item.Manifest, ticket.Item.ManifestSignature, settings.StoreUntil, cancellationToken);
        }
        catch (Exception e) when (e is ContentVerificationException or HigherSystemException { Status: HttpStatusCode.NotFound })
        {
            await CompleteAsync(ticket, new TicketResult("Failed", null, $"The transfer to the relay failed: {e.Message}", null), cancellationToken);
            return;
        }
        ticket.BytesTransferred = manifest.TotalBytes;
        ticket.SegmentsTransferred = manifest.Files.Sum(f => f.Segments.Count);
        var until = settings.StoreUntil is { } at ? $"until {at:yyyy-MM-dd HH:mm:ss} UTC" : "until it is removed";
        _logger.LogInformation("Job {Job}: {Package} {Version} stored in the relay's cache {Until}", ticket.Item.JobName, manifest.Name, manifest.Version, until);
        await CompleteAsync(ticket, new TicketResult("StoredOnRelay", null, $"Stored in the relay's package cache {until}.", null), cancellationToken);
    }

    /// <summary>
    /// Checks a ticket's signatures and what they bind (<see cref="SignedWork"/>) for this host, against the signing keys
    /// trusted when it was received (<see cref="AgentTrust.TrustedSigningKeys"/>); expiry only when <paramref name="receivedNow"/> is set.
    /// </summary>
    private SignedWorkVerdict Verify(Ticket ticket, DateTime? receivedNow)
    {
        var installed = _store.LoadInstalled();
        var trustedAt = receivedNow ?? ticket.ReceivedAt ?? _time.GetUtcNow().UtcDateTime;
        return SignedWork.Verify(ticket.Item, AgentTrust.TrustedPublicKeys(_identity!, trustedAt), _identity!.HostId, receivedNow, name => installed.GetValueOrDefault(name));
    }

    /// <summary>Announcements of the manager's signing keys that came with an answer, refused ones logged once each.</summary>
    private readonly HashSet<string> _refusedAnnouncements = new(StringComparer.Ordinal);

    /// <summary>
    /// Takes the signing-key announcements a higher system sent (<see cref="AgentTrust.AcceptAnnouncements"/>): saved in the
    /// identity before anything signed by the new key is checked.
    /// </summary>
    private void LearnSigningKeys(IReadOnlyList<SigningKeyAnnouncement>? offered)
    {
        if (offered is not { Count: > 0 } || _identity is null)
        {
            return;
        }
        var (identity, update) = AgentTrust.AcceptAnnouncements(_store, offered, _time.GetUtcNow().UtcDateTime);
        if (identity is not null && identity.HostId == _identity.HostId)
        {
            _identity = identity;
            _client.Identity = identity;
        }
        foreach (var added in update.Added)
        {
            _logger.LogInformation("Now trusting the manager's new signing key {New}, announced by key {Old}, which this agent trusts until {RetiresAt:u}",
                added.NewFingerprint, added.OldFingerprint, added.OldKeyRetiresAt);
        }
        foreach (var refusal in update.Refusals.Where(_refusedAnnouncements.Add))
        {
            _logger.LogWarning("{Refusal}", refusal);
        }
    }

    /// <summary>A work item refused for its signatures: reported Failed with the reason, nothing fetched or run.</summary>
    private async Task RefuseAsync(Ticket ticket, SignedWorkVerdict verdict, CancellationToken cancellationToken)
    {
        _logger.LogWarning("Job {Job}: work item {WorkItem} refused: {Reason}", ticket.Item.JobName, ticket.Item.WorkItemId, verdict.Refusal);
        await CompleteAsync(ticket, new TicketResult("Failed", null, verdict.Refusal, null), cancellationToken);
    }

    private async Task ConditionNotMetAsync(Ticket ticket, ConditionResult verdict, CancellationToken cancellationToken)
    {
        _logger.LogInformation("Job {Job}: {Message}", ticket.Item.JobName, verdict.Message);
        await CompleteAsync(ticket, new TicketResult("ConditionNotMet", null, verdict.Message, null), cancellationToken);
    }

    /// <summary>
    /// Reads the answer to a report: a target suspended meanwhile is held (kept on disk, resumed when served again);
    /// one canceled, finished elsewhere or no longer current is closed here without running anything.
    /// </summary>
    private async Task<bool> StopsAsync(Ticket ticket, ReportResponse? answer, CancellationToken cancellationToken)
    {
        if (answer is null)
        {
            CloseLocally(ticket, "Canceled", "The work item is no longer current at the higher system (re-executed or removed).");
            return true;
        }
        if (answer.Accepted)
        {
            return false;
        }
        switch (answer.Status)
        {
            case "Suspended":
                _logger.LogInformation("Job {Job}: suspended; stopping at this segment boundary", ticket.Item.JobName);
                ticket.Held = true;
                _store.SaveTicket(ticket);
                return true;
            case "Canceled" or "Succeeded" or "SucceededRebootRequired" or "Failed" or "ConditionNotMet" or "StoredOnRelay":
                _logger.LogInformation("Job {Job}: the higher system says {Status}; stopping", ticket.Item.JobName, answer.Status);
                CloseLocally(ticket, answer.Status, $"Stopped: the target is {answer.Status} at the higher system.");
                return true;
            default:
                await Task.CompletedTask;
                return false;
        }
    }

    /// <summary>Closes a ticket that the higher system already has an outcome for: nothing to report, files freed.</summary>
    private void CloseLocally(Ticket ticket, string status, string message)
    {
        ticket.Result = new TicketResult(status, null, message, null);
        ticket.Phase = TicketPhase.Completed;
        ticket.Reported = true;
        SaveDecided(ticket);
        _store.ReleaseFiles(ticket.Item.WorkItemId);
    }

    /// <summary>
    /// Fetches every segment not yet verified (HTTP Range) and assembles the files in the staging folder
    /// (<see cref="SegmentFetch"/>: each segment is checked against its SHA-256 and written while the next one arrives).
    /// Progress is recorded every <see cref="ProgressSaveInterval"/>, and a cut transfer re-checks what it wrote and
    /// resumes after the last verified segment; progress is reported, and the answer may stop the transfer at a segment
    /// boundary (suspended, canceled). Between segments the job's interval is kept, and the whole transfer is held to
    /// its bandwidth cap. Returns false when stopped.
    /// <para>
    /// The rest of the package must fit on the volume, with <see cref="LocalFault.StateReserveBytes"/> to spare, before a byte is
    /// written: a transfer that would fill the disk fails at once instead of taking the space other programs on the
    /// computer need. A write refused later (another program filled the disk meanwhile) is a disk-full fault too, with
    /// what the whole package still needed.
    /// </para>
    /// </summary>
    private async Task<bool> DownloadAsync(Ticket ticket, PackageManifest manifest, JobSettings? settings, string staging, CancellationToken cancellationToken)
    {
        var downloads = _store.DownloadFolder(ticket.Item.WorkItemId);
        LocalFault.CreateFolder(downloads, "the download folder");
        LocalFault.CreateFolder(staging, "the staging folder");
        LocalFault.EnsureRoom(downloads, manifest.TotalBytes - ticket.BytesTransferred, "downloading the package into");
        try
        {
            return await FetchFilesAsync(ticket, manifest, settings, staging, downloads, cancellationToken);
        }
        catch (LocalFaultException e) when (e.Fault.Kind == LocalFaultKind.DiskFull)
        {
            // The write that failed knows its own file; the administrator needs what the whole package still needs.
            throw new LocalFaultException(e.Fault.WithNeeded(manifest.TotalBytes - ticket.BytesTransferred), e.InnerException);
        }
    }

    private async Task<bool> FetchFilesAsync(Ticket ticket, PackageManifest manifest, JobSettings? settings, string staging, string downloads, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(settings?.SegmentIntervalSeconds ?? 0);
        var throttle = new TransferThrottle((settings?.BandwidthLimitKBps ?? 0) * 1024L);
        var lastReport = _time.GetTimestamp();
        var lastSaved = _time.GetTimestamp();
        foreach (var file in manifest.Files)
        {
            var target = Path.GetFullPath(Path.Combine(staging, file.Path));
            if (!target.StartsWith(Path.GetFullPath(staging) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new ContentVerificationException($"The manifest path '{file.Path}' leaves the staging folder.");
            }
            if (File.Exists(target))
            {
                continue; // assembled and verified before a restart
            }
            var partial = Path.Combine(downloads, file.Sha256 + ".part");
            var lastFile = file == manifest.Files[^1];
            using var reader = new SegmentReader(_client, file.Sha256, throttle);
            await using (var fetch = await SegmentFetch.OpenAsync(partial, file, manifest.SegmentSize, cancellationToken))
            {
                // Resuming from what an earlier run wrote: every whole segment in the file was checked against its hash,
                // those recorded as verified and those written after the last record alike.
                ticket.VerifiedSegments.TryGetValue(file.Sha256, out var recorded);
                if (fetch.Confirmed < recorded)
                {
                    _logger.LogWarning("Segment {Index} of {File} written before a restart no longer matches its hash; fetching from there", fetch.Confirmed, file.Path);
                }
                if (fetch.Confirmed != recorded)
                {
                    Account(ticket, file, manifest.SegmentSize, fetch.Confirmed);
                    _store.SaveProgress(ticket);
                }

                async Task<bool> AfterSegmentAsync(int received)
                {
                    Account(ticket, file, manifest.SegmentSize, fetch.Confirmed);
                    // Recorded a few times a second, not per segment (a file write and rename each): a restart checks
                    // the segments written after the last record against their hashes, so none is fetched again.
                    if (_time.GetElapsedTime(lastSaved) >= ProgressSaveInterval)
                    {
                        _store.SaveProgress(ticket);
                        lastSaved = _time.GetTimestamp();
                    }
                    if (lastFile && received == file.Segments.Count)
                    {
                        return true;
                    }
                    if (interval > TimeSpan.Zero || _time.GetElapsedTime(lastReport) >= _options.ProgressReportInterval)
                    {
                        // The report, and a stop it may answer with, count exactly the segments on disk.
                        await fetch.DrainAsync();
                        Account(ticket, file, manifest.SegmentSize, fetch.Confirmed);
                        lastReport = _time.GetTimestamp();
                        if (await StopsAsync(ticket, await ReportAsync(ticket, "Transferring", cancellationToken), cancellationToken))
                        {
                            return false; // the ticket is saved with these counters
                        }
                    }
                    if (interval > TimeSpan.Zero)
                    {
                        // A paced transfer asks for each segment anew: a response left unread during the pause
                        // would hold a connection (and be cut by the server's minimum data rate).
                        reader.Close();
                        await Task.Delay(interval, _time, cancellationToken);
                        throttle.Restart();
                    }
                    return true;
                }

                // Every byte is covered by a segment hash of the signed manifest, checked as it arrived (and again on
                // resume), so the whole file is not read and hashed a second time.
                var complete = await fetch.RunAsync(reader, read => CallAsync(async () => { await read(); return true; }, cancellationToken),
                    AfterSegmentAsync, _options.SegmentRetries, _logger, file.Path, cancellationToken);
                if (!complete)
                {
                    return false;
                }
                Account(ticket, file, manifest.SegmentSize, fetch.Confirmed);
                _store.SaveProgress(ticket);
            }
            LocalFault.CreateFolder(Path.GetDirectoryName(target)!, "a folder in the staging folder");
            LocalFault.Guard(target, "moving the downloaded file to", () => File.Move(partial, target, overwrite: true));
        }
        return true;
    }

    /// <summary>Whether a ticket's install waits for its time (a job's or package's install time still ahead).</summary>
    private bool WaitsForInstallTime(DateTime? installAt) => installAt is { } at && at > _time.GetUtcNow().UtcDateTime;

    /// <summary>How often a transfer records its progress on disk.</summary>
    private static readonly TimeSpan ProgressSaveInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Sets a file's verified segments to <paramref name="confirmed"/>, and the ticket's segment and byte counters with it.</summary>
    private static void Account(Ticket ticket, ManifestFile file, long segmentSize, int confirmed)
    {
        ticket.VerifiedSegments.TryGetValue(file.Sha256, out var before);
        ticket.SegmentsTransferred += confirmed - before;
        ticket.BytesTransferred += Math.Min(file.Size, confirmed * segmentSize) - Math.Min(file.Size, before * segmentSize);
        ticket.VerifiedSegments[file.Sha256] = confirmed;
    }

    private async Task CompleteAsync(Ticket ticket, TicketResult result, CancellationToken cancellationToken)
    {
        if (result.Status == ReportStatuses.Failed)
        {
            FailedCount++;
        }
        ticket.Result = result;
        ticket.Phase = TicketPhase.Completed;
        SaveDecided(ticket);
        await SendResultAsync(ticket, cancellationToken);
    }

    /// <summary>
    /// Records a ticket whose outcome is decided. A local fault (a full disk) is logged, not thrown: the outcome is sent
    /// all the same and the higher system keeps it, and a target with an outcome is not served again, so a ticket left
    /// on disk in an earlier phase is not acted on again (one left in Installing is reported Failed on restart, which a
    /// final target refuses).
    /// </summary>
    private void SaveDecided(Ticket ticket)
    {
        try
        {
            _store.SaveTicket(ticket);
        }
        catch (LocalFaultException e)
        {
            _logger.LogWarning("Job {Job}: the outcome of work item {WorkItem} could not be recorded on disk ({Error}); it is sent to the higher system all the same",
                ticket.Item.JobName, ticket.Item.WorkItemId, e.Message);
        }
    }

    /// <summary>
    /// Sends a completed ticket's result, then frees its files: the result does not wait for a large package to be
    /// deleted. Every path that sends a result (completion, recovery after a restart, a repeat of the work) frees the
    /// files, also when the higher system cannot be reached.
    /// </summary>
    private async Task SendResultAsync(Ticket ticket, CancellationToken cancellationToken)
    {
        var result = ticket.Result!;
        try
        {
            await CallAsync(() => _client.ReportAsync(new ReportRequest(ticket.Item.WorkItemId, result.Status, result.ExitCode, result.Message, result.OutputTail, ticket.BytesTransferred, ticket.SegmentsTransferred), cancellationToken), cancellationToken);
        }
        catch (HigherSystemException e) when (e.Status == HttpStatusCode.NotFound)
        {
            // The work item was re-executed or removed meanwhile; nobody waits for this result.
            _logger.LogInformation("Result of work item {WorkItem} is no longer wanted: {Reason}", ticket.Item.WorkItemId, e.Message);
        }
        finally
        {
            _store.ReleaseFiles(ticket.Item.WorkItemId);
        }
        ticket.Reported = true;
        SaveDecided(ticket);
    }

    /// <summary>Reports progress; null when the work item is no longer current at the higher system.</summary>
    private async Task<ReportResponse?> ReportAsync(Ticket ticket, string status, CancellationToken cancellationToken)
    {
        try
        {
            return await CallAsync(() => _client.ReportAsync(new ReportRequest(ticket.Item.WorkItemId, status, BytesTransferred: ticket.BytesTransferred, SegmentsTransferred: ticket.SegmentsTransferred), cancellationToken), cancellationToken);
        }
        catch (HigherSystemException e) when (e.Status == HttpStatusCode.NotFound)
        {
            _logger.LogInformation("Progress of work item {WorkItem} is no longer wanted: {Reason}", ticket.Item.WorkItemId, e.Message);
            return null;
        }
    }

    /// <summary>
    /// A registration refusal no retry cures: refused as unauthorized (the token), forbidden, in conflict (the name) or
    /// malformed. Revocation has its own ending (<see cref="CredentialRevokedException"/>); 429 and 5xx are tried again.
    /// </summary>
    private static bool IsRefusedEnrollment(HigherSystemException e) =>
        e.ErrorId != RevokedCredential.ErrorId
        && e.Status is HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.Conflict;

    /// <summary>Retries a call while the higher system is unreachable, a few times in a row.</summary>
    private async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var backoff = NewBackoff(TimeSpan.FromMilliseconds(500));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (HigherSystemException e) when (e.Status == HttpStatusCode.Unauthorized && e.ErrorId == RevokedCredential.ErrorId)
            {
                // Revoked or denied: registering again is refused as well, and must not be tried with the token.
                throw new CredentialRevokedException(
                    $"The higher system {Higher} refused the credential of host '{_options.Name}'"
                    + (_identity is { } held ? $" ({held.HostId})" : "") + $" as revoked: {e.Message} This agent stops and does not register again. "
                    + $"To enroll this computer again, the administrator must give it a new enrollment token, and its state folder '{_store.Folder}' "
                    + "(which holds the revoked identity) must be cleared first.", e);
            }
            catch (HigherSystemException e) when (e.Status == HttpStatusCode.Unauthorized && _identity is { Pending: false } && attempt < 5
                && (_store.LoadIdentity() is { Pending: false } saved && saved.Credential != _identity.Credential
                    && string.Equals(saved.Name, _options.Name, StringComparison.OrdinalIgnoreCase)))
            {
                // The identity file changed since this agent read it: another run on the same state folder (the service and
                // a --once run, a relay's two roles) registered again. Take its credential instead of registering once
                // more, which would in turn lock that run out.
                _logger.LogInformation("The higher system refused the credential this agent held; the state folder holds a newer one, which is used from now on");
                _identity = _store.LoadIdentity();
                _client.Identity = _identity;
            }
            catch (HigherSystemException e) when (e.Status == HttpStatusCode.Unauthorized && _identity is { Pending: false } && !string.IsNullOrWhiteSpace(_options.Token) && attempt < 5)
            {
                _logger.LogWarning("The higher system refused this agent's credential ({Error}); registering again with the enrollment token", e.Message);
                var refused = _identity;
                _refusedCredential = refused.Credential;
                _identity = null;
                _client.Identity = null;
                await RegisterAsync(refused, cancellationToken);
            }
            catch (Exception e) when (HigherSystemClient.IsTransient(e) && attempt < Attempts(e) && !cancellationToken.IsCancellationRequested)
            {
                _logger.LogDebug("Call to the higher system failed ({Error}); retrying", e.Message);
                await Task.Delay(backoff.Next(), cancellationToken);
            }
        }
    }

    /// <summary>
    /// How many times a call is made while it fails with <paramref name="e"/>: five; with --once, a call that got no answer
    /// in time is made once on each higher system (each timeout moves on to the next), so that one that accepts connections
    /// and never answers ends the run in bounded time (<see cref="AgentOptions.OnceTimeout"/>).
    /// </summary>
    private int Attempts(Exception e) => _options.Once && e is TimeoutException ? _client.Systems.All.Count : 5;

    public void Dispose() => _client.Dispose();
}

/// <summary>Content that failed its hash check or could not be placed safely.</summary>
public sealed class ContentVerificationException(string message) : Exception(message);
