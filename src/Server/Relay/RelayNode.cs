using System.Collections.Concurrent;
using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Power;
using JP1Dist.Protocol.Security;
using JP1Dist.Protocol.Signing;
using JP1Dist.Server.Serving;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Relay;

/// <summary>
/// A relay as a higher system. It answers its lower clients from its own store: their credentials, the work snapshot
/// its higher system last sent for every host below it, and its package cache. Reports and facts go into the outbox
/// (on disk) before they are answered, and <see cref="RelayUplink"/> passes them upward in batches; while the higher
/// system answers, a report gets its answer, and while it does not, the relay answers from what it knows and keeps the
/// report queued. Registrations are passed upward at once: a new host needs its id and credential from the manager.
/// </summary>
public sealed class RelayNode : IHigherSystemNode, IRelayPackageStore
{
    private readonly RelayOptions _options;
    private readonly RelayStore _store;
    private readonly RelayUpstream _upstream;
    private readonly PackageCache _cache;
    private readonly HostSignals _signals;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<Guid, LowerHost> _hosts = new();
    private readonly ConcurrentDictionary<Guid, string> _reported = new();
    private readonly ConcurrentDictionary<Guid, DateTime> _seen = new();
    private readonly ConcurrentDictionary<long, TaskCompletionSource<RelayBatchResult?>> _answers = new();
    private readonly ConcurrentDictionary<string, DateTime> _lastNeeded = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, StoredPackage> _stored = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<RevokedCredential, byte> _revoked = new();
    private long _credentialGeneration;
    private volatile Snapshot _snapshot;
    private volatile IReadOnlyList<SigningKeyAnnouncement> _announcements;
    private readonly HashSet<string> _refusedAnnouncements = new(StringComparer.Ordinal);
    private readonly RelayWake _wake;
    /// <summary>Power orders a client reported taking (or refusing) here: not served again while the snapshot still lists them.</summary>
    private readonly ConcurrentDictionary<Guid, byte> _powerTaken = new();

    public RelayNode(RelayOptions options, RelayStore store, RelayUpstream upstream, PackageCache cache, HostSignals signals, ILogger<RelayNode> logger, TimeProvider? time = null)
    {
        _options = options;
        _store = store;
        _upstream = upstream;
        _cache = cache;
        _signals = signals;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _wake = new RelayWake(store, logger, _time);
        foreach (var host in store.LoadHosts())
        {
            _hosts[host.Id] = host;
            signals.Learn(host.Id, host.ParentId);
        }
        foreach (var package in store.LoadStored())
        {
            _stored[package.ManifestId] = package;
        }
        foreach (var revoked in store.LoadRevoked())
        {
            _revoked[revoked] = 0;
        }
        _snapshot = new Snapshot(store.LoadSnapshot() ?? RelayPoll.Snapshot([], new Dictionary<string, SignedManifest>()));
        _announcements = upstream.Identity?.SigningKeyAnnouncements ?? [];
        var now = Now;
        foreach (var hash in cache.CachedHashes())
        {
            _lastNeeded[hash] = now;
        }
    }

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    /// <summary>Set by the uplink: whether the last call upward succeeded. While it did not, reports are answered at once from what the relay knows.</summary>
    public bool HigherSystemReachable { get; set; }

    /// <summary>
    /// Set by the uplink once its higher system answered a work poll since this relay started: the snapshot is then the
    /// higher system's current one (not one kept on disk from before), so what it leaves out is no longer open there.
    /// </summary>
    public bool SnapshotCurrent { get; set; }

    /// <summary>Wakes the uplink when something was queued.</summary>
    public event Action? Queued;

    /// <summary>The snapshot's tag, sent upward with the next poll.</summary>
    public string SnapshotEtag => _snapshot.Work.Etag;

    // ---- lower clients ----

    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, Guid? parentHostId, CancellationToken cancellationToken)
    {
        var self = _upstream.RequireIdentity();
        var parent = parentHostId ?? self.HostId;
        RegisterResponse response;
        try
        {
            response = await _upstream.Client.RelayRegisterAsync(new RelayRegisterRequest(request, parent), cancellationToken);
        }
        catch (Exception e) when (HigherSystemClient.IsUpwardFailure(e))
        {
            throw RelayUpstream.Translate(e);
        }
        if (response.Pending)
        {
            // Not a host yet: nothing to keep. Approved, it registers again through here with its credential, and is kept then.
            _logger.LogInformation("Registration of {Name} ({HostId}) waits for approval at the manager", request.Name.Trim(), response.HostId);
            return response;
        }
        var kind = string.Equals(request.Kind, nameof(HostKind.Relay), StringComparison.OrdinalIgnoreCase) ? HostKind.Relay : HostKind.Client;
        var host = new LowerHost(response.HostId, request.Name.Trim(), parent, kind, Secrets.Hash(response.Credential));
        await _store.SaveHostAsync(host, cancellationToken);
        _hosts[host.Id] = host;
        _signals.Learn(host.Id, parent);
        _logger.LogInformation("Registered {Name} ({HostId}) below {Parent}", host.Name, host.Id, parent == self.HostId ? "this relay" : parent);
        return response;
    }

    public Task<Guid?> AuthenticateAsync(Guid hostId, string credential, CancellationToken cancellationToken)
    {
        if (!_revoked.IsEmpty && _revoked.ContainsKey(new RevokedCredential(hostId, Secrets.Hash(credential))))
        {
            throw new DistException(RevokedCredential.ErrorId, DistErrorKind.Unauthorized,
                $"The credential of host {hostId} was revoked at the manager (the host was removed with Remove-DistHost -Revoke, its enrollment was denied, "
                + "or another computer replaced it); it is refused from now on. To enroll this computer again, clear its state folder and give it a new enrollment token.",
                hostId);
        }
        return Task.FromResult(_hosts.TryGetValue(hostId, out var host) && Secrets.Matches(credential, host.CredentialHash) ? hostId : (Guid?)null);
    }

    public long CredentialGeneration => Interlocked.Read(ref _credentialGeneration);

    /// <summary>The revoked credentials this relay knows, in a stable order (its lower relays' snapshots carry them).</summary>
    private List<RevokedCredential> RevokedList() =>
        _revoked.Keys.OrderBy(r => r.HostId).ThenBy(r => r.CredentialHash, StringComparer.Ordinal).ToList();

    public Task<bool> IsAtOrBelowAsync(Guid hostId, Guid relayId, CancellationToken cancellationToken) => Task.FromResult(IsAtOrBelow(hostId, relayId));

    private bool IsAtOrBelow(Guid hostId, Guid relayId)
    {
        var current = hostId;
        for (var depth = 0; depth < 64; depth++)
        {
            if (current == relayId)
            {
                return true;
            }
            if (!_hosts.TryGetValue(current, out var host))
            {
                return false;
            }
            current = host.ParentId;
        }
        return false;
    }

    public Task<bool> IsRelayAsync(Guid hostId, CancellationToken cancellationToken) =>
        Task.FromResult(_hosts.TryGetValue(hostId, out var host) && host.Kind == HostKind.Relay);

    public async Task<bool> ReportFactsAsync(Guid hostId, FactsReport facts, CancellationToken cancellationToken)
    {
        await EnqueueAsync([new RelayBatchEntry(0, hostId, Facts: facts)], cancellationToken);
        return true;
    }

    public Task<WorkResponse> WaitForWorkAsync(Guid hostId, TimeSpan wait, CancellationToken cancellationToken) =>
        LongPoll.WaitAsync(_signals, hostId, wait, _time, _ => Task.FromResult(new WorkResponse(WorkOf(hostId), PowerOrders: PowerOrdersOf(hostId), Open: OpenOf(hostId))),
            work => work.Items.Count > 0 || work.PowerOrders is { Count: > 0 }, cancellationToken);

    /// <summary>
    /// The host's work items open here (<see cref="WorkResponse.Open"/>): every item of its in the snapshot whose status
    /// (as the client reported it here, or as the snapshot has it) is not final. Null (nothing is withdrawn) while this
    /// relay has not heard from its higher system since it started, or cannot reach it now: a snapshot kept from before
    /// may lack an item the higher system has.
    /// </summary>
    private List<Guid>? OpenOf(Guid hostId)
    {
        var snapshot = _snapshot;
        if (!SnapshotCurrent || !HigherSystemReachable)
        {
            return null;
        }
        return snapshot.ByHost.TryGetValue(hostId, out var items)
            ? items.Where(i => !IsFinal(_reported.TryGetValue(i.Item.WorkItemId, out var reported) ? reported : i.Status)).Select(i => i.Item.WorkItemId).ToList()
            : [];
    }

    /// <summary>The power orders for the host that it has not reported taking here; null when none.</summary>
    private List<SignedPowerOrder>? PowerOrdersOf(Guid hostId)
    {
        var orders = _snapshot.PowerOrders.Where(o => o.HostId == hostId && !_powerTaken.ContainsKey(o.OrderId)).Select(o => o.Signed).ToList();
        return orders.Count > 0 ? orders : null;
    }

    /// <summary>What the host is served now: its items in the snapshot, less what it reported done or waiting since.</summary>
    private List<WorkItem> WorkOf(Guid hostId)
    {
        var snapshot = _snapshot;
        if (!snapshot.ByHost.TryGetValue(hostId, out var items))
        {
            return [];
        }
        var now = Now;
        var work = new List<WorkItem>();
        foreach (var item in items)
        {
            var status = _reported.TryGetValue(item.Item.WorkItemId, out var reported) ? reported : item.Status;
            if (!TargetStates.TryParseName(status, out var parsed) || !TargetStates.Servable.Contains(parsed)
                || (parsed == TargetStatus.Transferred && snapshot.InstallAt.GetValueOrDefault(item.Item.WorkItemId) > now)
                || !snapshot.Work.Manifests.TryGetValue(item.ManifestId, out var manifest))
            {
                continue;
            }
            work.Add(item.Item with { Manifest = manifest.Manifest, ManifestSignature = manifest.Signature });
        }
        return work;
    }

    public Task<ReportResponse> ReportAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken)
    {
        if (PowerReports.Is(report.Status))
        {
            return QueuePowerReportAsync(hostId, report, cancellationToken);
        }
        var status = ParseReportStatus(report.Status);
        if (_snapshot.ByWorkItem.TryGetValue(report.WorkItemId, out var known) && known.HostId != hostId)
        {
            throw new DistException("WorkItemNotFound", DistErrorKind.NotFound, $"Work item {report.WorkItemId} is not this host's.", report.WorkItemId);
        }
        return QueueReportAsync(hostId, report with { Status = status }, SelfId, cancellationToken);
    }

    /// <summary>
    /// A client's report on a power order (or a -ShutdownAfter job's shutdown): passed upward as it is, answered at once,
    /// and the order not served to the client again. A report naming another host's order is refused.
    /// </summary>
    private async Task<ReportResponse> QueuePowerReportAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken)
    {
        if (_snapshot.PowerOrders.FirstOrDefault(o => o.OrderId == report.WorkItemId) is { Signed: not null } known && known.HostId != hostId)
        {
            throw new DistException("WorkItemNotFound", DistErrorKind.NotFound, $"Power order {report.WorkItemId} is not this host's.", report.WorkItemId);
        }
        if (report.Status is PowerReports.Asked or PowerReports.Refused)
        {
            _powerTaken[report.WorkItemId] = 0;
        }
        await EnqueueAsync([new RelayBatchEntry(0, hostId, Report: report, Via: SelfId)], cancellationToken);
        return new ReportResponse(true, report.Status);
    }

    private Guid? _selfId;

    /// <summary>This relay's own host id (it never changes once registered): stamped on the reports its clients make here.</summary>
    private Guid? SelfId => _selfId ??= _upstream.Identity?.HostId;

    /// <summary>
    /// Queues a report (on disk) and answers it. Only the claim before installing (Installing) waits for the higher
    /// system's answer, because that is where a suspension or cancellation must keep the client from installing; when
    /// the answer does not come (unreachable), the relay's own knowledge decides. Progress and results are answered at
    /// once from the snapshot (a target suspended there stops at its next segment boundary) and go upward with the next
    /// batch, so a client does not wait for a round trip to the manager on every segment.
    /// </summary>
    private async Task<ReportResponse> QueueReportAsync(Guid hostId, ReportRequest report, Guid? via, CancellationToken cancellationToken)
    {
        var entry = new RelayBatchEntry(0, hostId, Report: report, Via: via);
        RelayBatchResult? answer = null;
        if (report.Status == nameof(TargetStatus.Installing))
        {
            answer = await EnqueueAndAnswerAsync(entry, cancellationToken);
        }
        else
        {
            await EnqueueAsync([entry], cancellationToken);
        }
        if (answer?.ErrorId is { } errorId)
        {
            throw new DistException(errorId, errorId == "WorkItemNotFound" ? DistErrorKind.NotFound : DistErrorKind.InvalidArgument,
                answer.Message ?? errorId, report.WorkItemId);
        }
        if (answer?.Report is { } upward)
        {
            _reported[report.WorkItemId] = upward.Status;
            return upward;
        }
        var known = _snapshot.ByWorkItem.GetValueOrDefault(report.WorkItemId);
        if (known?.Status is "Suspended" or "Canceled" && !IsFinal(report.Status))
        {
            return new ReportResponse(false, known.Status);
        }
        _reported[report.WorkItemId] = report.Status;
        return new ReportResponse(true, report.Status);
    }

    /// <summary>The report's status by its name, as the manager reads it (the same rule: <see cref="TargetStates.ParseReported"/>).</summary>
    private static string ParseReportStatus(string status) => TargetStates.ParseReported(status).ToString();

    private static bool IsFinal(string status) => TargetStates.TryParseName(status, out var parsed) && parsed.IsFinal();

    public Task TouchAsync(Guid hostId)
    {
        _seen[hostId] = Now;
        return Task.CompletedTask;
    }

    public async Task<string?> GetContentPathAsync(string sha256, CancellationToken cancellationToken)
    {
        if (_cache.Content.Contains(sha256))
        {
            _lastNeeded[sha256] = Now;
            return _cache.Content.PathOf(sha256);
        }
        if (FindFile(sha256) is not { } found)
        {
            // Not "there is no such content": the client holds a manifest that names it, from a higher system that knew
            // more than this relay does now (the manager standing in, or this relay before it started again on the work it
            // kept while its higher system was unreachable). A 404 would fail the client's target for good.
            throw new DistException("ContentNotKnownYet", DistErrorKind.NotAvailable,
                $"This relay does not know content {sha256} yet: the work it holds is older than the client's. Try again later, or the next higher system.", sha256);
        }
        try
        {
            var path = await EnsureCachedAsync(found.File, found.SegmentSize, cancellationToken);
            _lastNeeded[sha256] = Now;
            return path;
        }
        catch (Exception e) when (HigherSystemClient.IsUpwardFailure(e))
        {
            throw RelayUpstream.Translate(e);
        }
        catch (ContentVerificationException e)
        {
            throw new DistException("ContentVerificationFailed", DistErrorKind.NotAvailable, $"The relay could not fetch a verified copy: {e.Message}");
        }
    }

    /// <summary>The manifest file with this hash, from the work snapshot or the stored packages.</summary>
    private (ManifestFile File, long SegmentSize)? FindFile(string sha256)
    {
        foreach (var manifest in _snapshot.Manifests.Values.Concat(_stored.Values.Select(s => Parse(s.Manifest)).OfType<PackageManifest>()))
        {
            if (manifest.Files.FirstOrDefault(f => string.Equals(f.Sha256, sha256, StringComparison.OrdinalIgnoreCase)) is { } file)
            {
                return (file, manifest.SegmentSize);
            }
        }
        return null;
    }

    private static PackageManifest? Parse(string manifest)
    {
        try
        {
            return JsonSerializer.Deserialize<PackageManifest>(manifest, ProtocolJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // ---- lower relays ----

    public Task<RelayWorkResponse> WaitForRelayWorkAsync(Guid relayId, TimeSpan wait, string? etag, CancellationToken cancellationToken) =>
        RelayPoll.WaitAsync(_signals, relayId, wait, _time, etag, _ =>
        {
            var snapshot = _snapshot;
            var items = snapshot.Work.Items.Where(i => i.HostId != relayId && IsAtOrBelow(i.HostId, relayId)).ToList();
            var manifests = items.Select(i => i.ManifestId).Distinct()
                .Where(snapshot.Work.Manifests.ContainsKey).ToDictionary(id => id, id => snapshot.Work.Manifests[id]);
            // Wake orders for the lower relay or a relay below it; each relay sends only those that name it.
            var wake = (snapshot.Work.WakeOrders ?? []).Where(o => RelayWake.RelayOf(o) is { } sender && IsAtOrBelow(sender, relayId)).ToList();
            var power = snapshot.PowerOrders.Where(o => o.HostId != relayId && IsAtOrBelow(o.HostId, relayId) && !_powerTaken.ContainsKey(o.OrderId))
                .Select(o => o.Signed).ToList();
            return Task.FromResult(RelayPoll.Snapshot(items, manifests, SigningKeyAnnouncements(), RevokedList(), wake, power));
        }, cancellationToken);

    /// <summary>The announcements this relay accepted whose old key has not retired: passed to its lower clients and relays.</summary>
    public IReadOnlyList<SigningKeyAnnouncement> SigningKeyAnnouncements()
    {
        var now = Now;
        return _announcements.Where(a => SigningKeyAnnouncement.Utc(a.OldKeyRetiresAt) > now).ToList();
    }

    /// <summary>
    /// Takes the announcements of the manager's signing keys that came with a snapshot into the relay's identity (saved
    /// before the new key is used) and returns the keys it trusts now (<see cref="AgentTrust.TrustedSigningKeys"/>).
    /// </summary>
    internal IReadOnlyList<string> LearnSigningKeys(IReadOnlyList<SigningKeyAnnouncement>? offered, AgentIdentity identity)
    {
        var now = Now;
        var (current, update) = _upstream.AcceptSigningKeys(offered, now);
        current ??= identity;
        _announcements = current.SigningKeyAnnouncements ?? [];
        foreach (var added in update.Added)
        {
            _logger.LogInformation("Now trusting the manager's new signing key {New}, announced by key {Old}, which this relay trusts until {RetiresAt:u}",
                added.NewFingerprint, added.OldFingerprint, added.OldKeyRetiresAt);
        }
        lock (_refusedAnnouncements)
        {
            foreach (var refusal in update.Refusals.Where(_refusedAnnouncements.Add))
            {
                _logger.LogWarning("{Refusal}", refusal);
            }
        }
        return AgentTrust.TrustedPublicKeys(current, now);
    }

    public async Task<RelayBatchResponse> ApplyRelayBatchAsync(Guid relayId, RelayBatch batch, CancellationToken cancellationToken)
    {
        var allowed = _hosts.Keys.Where(id => IsAtOrBelow(id, relayId)).ToHashSet();
        return await RelayBatches.ApplyAsync(batch, allowed, async (entry, ct) =>
        {
            if (entry.SeenAt is { } seen)
            {
                _seen.AddOrUpdate(entry.HostId, seen, (_, old) => old > seen ? old : seen);
            }
            if (entry.Report is null && entry.Facts is null)
            {
                return new RelayBatchResult(entry.Seq);
            }
            if (entry.Report is { } power && PowerReports.Is(power.Status))
            {
                if (power.Status is PowerReports.Asked or PowerReports.Refused)
                {
                    _powerTaken[power.WorkItemId] = 0; // a lower relay's wake report names no order served to a client
                }
                await EnqueueAsync([entry with { Seq = 0, SeenAt = null }], ct);
                return new RelayBatchResult(entry.Seq, new ReportResponse(true, power.Status));
            }
            if (entry.Report is { } report)
            {
                return new RelayBatchResult(entry.Seq, await QueueReportAsync(entry.HostId, report with { Status = ParseReportStatus(report.Status) },
                    RelayBatches.ServedBy(entry, relayId, allowed), ct));
            }
            await EnqueueAsync([entry with { Seq = 0, SeenAt = null }], ct);
            return new RelayBatchResult(entry.Seq);
        }, cancellationToken);
    }

    /// <summary>A relay below this one asks for its certificate: only the manager issues, so the request goes upward, naming that relay.</summary>
    public async Task<RelayCertificateResponse> IssueRelayCertificateAsync(Guid relayId, RelayCertificateRequest request, CancellationToken cancellationToken)
    {
        _upstream.RequireIdentity();
        try
        {
            return await _upstream.Client.RequestRelayCertificateAsync(request with { HostId = relayId }, cancellationToken);
        }
        catch (Exception e) when (HigherSystemClient.IsUpwardFailure(e))
        {
            throw RelayUpstream.Translate(e);
        }
    }

    public Task<IReadOnlyDictionary<TargetStatus, int>> CountTargetsAsync(CancellationToken cancellationToken)
    {
        var counts = new Dictionary<TargetStatus, int>();
        foreach (var item in _snapshot.Work.Items)
        {
            var status = _reported.TryGetValue(item.Item.WorkItemId, out var reported) ? reported : item.Status;
            if (TargetStates.TryParseName(status, out var parsed))
            {
                counts[parsed] = counts.GetValueOrDefault(parsed) + 1;
            }
        }
        return Task.FromResult<IReadOnlyDictionary<TargetStatus, int>>(counts);
    }

    // ---- the relay's own client role: transfer-to-relay ----

    public async Task StoreAsync(PackageManifest manifest, string manifestJson, string manifestSignature, DateTime? storeUntil, CancellationToken cancellationToken)
    {
        if (ManifestRules.Validate(manifest) is { } problem)
        {
            throw new ContentVerificationException($"The package manifest was refused: {problem}.");
        }
        var id = StoredId(manifestJson);
        var earlier = _stored.GetValueOrDefault(id);
        // Recorded first: the files are then known to the cache (and kept) while they are fetched.
        var package = new StoredPackage(id, manifestJson, manifestSignature, storeUntil?.ToUniversalTime());
        await _store.SaveStoredAsync(package, cancellationToken);
        _stored[id] = package;
        try
        {
            foreach (var file in manifest.Files)
            {
                await EnsureCachedAsync(file, manifest.SegmentSize, cancellationToken);
                _lastNeeded[file.Sha256] = Now;
            }
        }
        catch (LocalFaultException) when (earlier is null)
        {
            // Not stored after all (a full disk): a record without its content would only keep the files that did fit.
            _stored.TryRemove(id, out _);
            try
            {
                await _store.RemoveStoredAsync(id, CancellationToken.None);
            }
            catch (LocalFaultException e)
            {
                _logger.LogWarning("The record of the package that could not be stored stays in the relay's store until it expires: {Error}", e.Message);
            }
            throw;
        }
    }

    /// <summary>
    /// The cached file, fetched now if needed. When the disk is full, content that neither a stored package nor the current
    /// work needs is removed at once (its grace period waived: it only saves a fetch later) and the fetch is tried once more;
    /// a fault that remains is thrown (<see cref="LocalFaultException"/>): a transfer-to-relay ticket fails with it, and a
    /// client is answered 503 StorageFault and asks again later.
    /// </summary>
    private async Task<string> EnsureCachedAsync(ManifestFile file, long segmentSize, CancellationToken cancellationToken)
    {
        try
        {
            return await _cache.EnsureAsync(file, segmentSize, cancellationToken);
        }
        catch (LocalFaultException e) when (e.Fault.Kind == LocalFaultKind.DiskFull)
        {
            if (await PruneAsync(cancellationToken, waiveGrace: true) == 0)
            {
                throw;
            }
        }
        _logger.LogWarning("Removed cached content no work needs to make room for {Sha256}; fetching it again", file.Sha256);
        return await _cache.EnsureAsync(file, segmentSize, cancellationToken);
    }

    private static string StoredId(string manifestJson) => SignedWork.ManifestHash(manifestJson);

    /// <summary>The packages stored for transfer-to-relay jobs, with their expiry.</summary>
    public IReadOnlyCollection<StoredPackage> Stored => _stored.Values.ToList();

    // ---- used by the uplink ----

    private async Task EnqueueAsync(IReadOnlyList<RelayBatchEntry> entries, CancellationToken cancellationToken)
    {
        await _store.EnqueueAsync(entries, cancellationToken);
        Queued?.Invoke();
    }

    /// <summary>
    /// Queues one report and waits for the higher system's answer to it; null when it does not come within
    /// <see cref="RelayOptions.ReportAnswerWait"/>, or at once while the higher system is unreachable (it stays queued).
    /// </summary>
    private async Task<RelayBatchResult?> EnqueueAndAnswerAsync(RelayBatchEntry entry, CancellationToken cancellationToken)
    {
        var answer = new TaskCompletionSource<RelayBatchResult?>(TaskCreationOptions.RunContinuationsAsynchronously);
        long seq = 0;
        await _store.EnqueueAsync([entry], cancellationToken, seqs =>
        {
            seq = seqs[0];
            _answers[seq] = answer; // before the row is visible to the uplink
        });
        Queued?.Invoke();
        try
        {
            if (!HigherSystemReachable)
            {
                return null;
            }
            return await answer.Task.WaitAsync(_options.ReportAnswerWait, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            _answers.TryRemove(seq, out _);
        }
    }

    /// <summary>Hands the higher system's answer to whoever waits for it.</summary>
    internal void Answer(RelayBatchResult result)
    {
        if (_answers.TryGetValue(result.Seq, out var waiter))
        {
            waiter.TrySetResult(result);
        }
    }

    /// <summary>Answers every waiting report with "no answer": the higher system is unreachable.</summary>
    internal void AnswerNone()
    {
        foreach (var waiter in _answers.Values)
        {
            waiter.TrySetResult(null);
        }
    }

    /// <summary>
    /// The last-seen times gathered since the last batch, at most <paramref name="max"/> (taken out; put back with
    /// <see cref="ReturnSeen"/> when the batch fails). The others stay for the next batch.
    /// </summary>
    internal List<RelayBatchEntry> TakeSeen(int max)
    {
        var taken = new List<RelayBatchEntry>();
        foreach (var id in _seen.Keys)
        {
            if (taken.Count >= max)
            {
                break;
            }
            if (_seen.TryRemove(id, out var at))
            {
                taken.Add(new RelayBatchEntry(0, id, SeenAt: at));
            }
        }
        return taken;
    }

    /// <summary>Whether last-seen times wait to go upward.</summary>
    internal bool HasSeen => !_seen.IsEmpty;

    internal void ReturnSeen(IEnumerable<RelayBatchEntry> entries)
    {
        foreach (var entry in entries)
        {
            _seen.AddOrUpdate(entry.HostId, entry.SeenAt!.Value, (_, old) => old > entry.SeenAt!.Value ? old : entry.SeenAt!.Value);
        }
    }

    /// <summary>
    /// Takes a new snapshot from the higher system: items whose manifest is not signed by a manager key this relay trusts
    /// (<paramref name="trustedKeys"/>, from <see cref="LearnSigningKeys"/>) are dropped. Saved, so the relay serves it after a restart; waiting clients are woken. A signed manifest
    /// that breaks <see cref="ManifestRules"/> is served as it came (its clients refuse it and report why), but this
    /// relay fetches, caches and keeps no content by it.
    /// </summary>
    internal async Task<IReadOnlyList<(ManifestFile File, long SegmentSize)>> ApplySnapshotAsync(RelayWorkResponse work, IReadOnlyCollection<string> trustedKeys, CancellationToken cancellationToken)
    {
        var valid = work.Manifests.Where(m => trustedKeys.Any(key => ManifestSigner.Verify(key, m.Value.Manifest, m.Value.Signature)))
            .ToDictionary(m => m.Key, m => m.Value);
        if (valid.Count < work.Manifests.Count)
        {
            _logger.LogWarning("{Count} manifest(s) from the higher system are not signed by a manager key this relay trusts; their work is not served", work.Manifests.Count - valid.Count);
        }
        var items = work.Items.Where(i => valid.ContainsKey(i.ManifestId)).ToList();
        await ApplyRevokedAsync(work.Revoked ?? [], cancellationToken);
        var wake = _wake.Keep(work.WakeOrders, trustedKeys, SelfId);
        // Power orders are checked by the agent they name; only the manager's signature is required to pass them on.
        var power = (work.PowerOrders ?? []).Where(o => o is not null && trustedKeys.Any(key => ManifestSigner.Verify(key, o.Order ?? "", o.Signature ?? ""))).ToList();
        var accepted = new RelayWorkResponse(items, valid, work.Etag, Revoked: work.Revoked, WakeOrders: wake.Count > 0 ? wake : null,
            PowerOrders: power.Count > 0 ? power : null);
        await _store.SaveSnapshotAsync(accepted, cancellationToken);
        var previous = _snapshot;
        _snapshot = new Snapshot(accepted);
        // Saved first: a relay that dies while sending sends the rest at its start.
        await SendWakeOrdersAsync(trustedKeys, cancellationToken);
        foreach (var (manifestId, problem) in _snapshot.Refused)
        {
            _logger.LogWarning("Manifest {ManifestId} from the higher system breaks the manifest rules ({Problem}); its content is not cached here", manifestId, problem);
        }
        // What a client reported stays until the snapshot shows the item past it, or no longer has it.
        foreach (var ticket in _reported.Keys)
        {
            if (!_snapshot.ByWorkItem.TryGetValue(ticket, out var item) || item.Status != previous.ByWorkItem.GetValueOrDefault(ticket)?.Status)
            {
                _reported.TryRemove(ticket, out _);
            }
        }
        foreach (var taken in _powerTaken.Keys.Where(id => !_snapshot.PowerOrders.Any(o => o.OrderId == id)))
        {
            _powerTaken.TryRemove(taken, out _);
        }
        _signals.Notify(previous.ByHost.Keys.Concat(_snapshot.ByHost.Keys).Concat(_snapshot.PowerOrders.Select(o => o.HostId)).Distinct().ToList());
        var now = Now;
        var needed = new List<(ManifestFile, long)>();
        foreach (var item in items.Where(i => i.Status is "Queued" or "Transferring"))
        {
            if (!_snapshot.Manifests.TryGetValue(item.ManifestId, out var manifest))
            {
                continue;
            }
            foreach (var file in manifest.Files)
            {
                _lastNeeded[file.Sha256] = now;
                if (!needed.Any(n => n.Item1.Sha256 == file.Sha256))
                {
                    needed.Add((file, manifest.SegmentSize));
                }
            }
        }
        return needed;
    }

    /// <summary>
    /// Sends the wake orders of the kept snapshot that name this relay and were not sent yet (<see cref="RelayWake"/>), with
    /// the keys the relay trusts now; the uplink calls it before each poll, so that a relay that restarted, or could not
    /// record a send, sends what it had not.
    /// </summary>
    internal async Task SendPendingWakeAsync(AgentIdentity identity, CancellationToken cancellationToken)
    {
        if (_snapshot.Work.WakeOrders is { Count: > 0 })
        {
            await SendWakeOrdersAsync(AgentTrust.TrustedPublicKeys(identity, Now), cancellationToken);
        }
    }

    private async Task SendWakeOrdersAsync(IReadOnlyCollection<string> trustedKeys, CancellationToken cancellationToken)
    {
        if (await _wake.SendPendingAsync(_snapshot.Work.WakeOrders, trustedKeys, SelfId, _options.Name, cancellationToken) > 0)
        {
            Queued?.Invoke(); // the reports of the sends go upward with the next batch
        }
    }

    /// <summary>
    /// Takes the revocations this relay did not know yet: kept for good (on disk first), the hosts holding those credentials
    /// forgotten, credentials verified before checked again, and the polls of those hosts woken, so that their next call is refused.
    /// </summary>
    private async Task ApplyRevokedAsync(IReadOnlyList<RevokedCredential> revoked, CancellationToken cancellationToken)
    {
        // A credential hash is a hex SHA-256 like a content hash; an entry that is not one could match nothing and is not kept.
        var added = revoked.Where(r => r is not null && r.HostId != Guid.Empty && ContentHash.IsHash(r.CredentialHash) && !_revoked.ContainsKey(r))
            .Distinct().ToList();
        if (added.Count == 0)
        {
            return;
        }
        await _store.SaveRevokedAsync(added, cancellationToken);
        foreach (var credential in added)
        {
            _revoked[credential] = 0;
            if (_hosts.TryGetValue(credential.HostId, out var host) && string.Equals(host.CredentialHash, credential.CredentialHash, StringComparison.Ordinal))
            {
                _hosts.TryRemove(credential.HostId, out _);
                _logger.LogWarning("The manager revoked the credential of {Name} ({HostId}); it is refused here from now on", host.Name, host.Id);
            }
        }
        Interlocked.Increment(ref _credentialGeneration);
        _signals.Notify(added.Select(r => r.HostId).Distinct().ToList());
    }

    /// <summary>Fetches content the snapshot's queued work needs, before the clients ask (the relay fetches each file once).</summary>
    internal async Task PrefetchAsync(IReadOnlyList<(ManifestFile File, long SegmentSize)> files, CancellationToken cancellationToken)
    {
        foreach (var (file, segmentSize) in files)
        {
            try
            {
                await EnsureCachedAsync(file, segmentSize, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _logger.LogWarning("Prefetching {Sha256} failed ({Error}); it is fetched again when a client asks", file.Sha256, e.Message);
            }
        }
    }

    /// <summary>
    /// Removes expired stored packages, and cached content that neither a stored package nor the current work needs
    /// and that no client has asked for during the grace period (whatever the grace when <paramref name="waiveGrace"/>:
    /// the disk is full). Returns how many cached files were removed.
    /// </summary>
    internal async Task<int> PruneAsync(CancellationToken cancellationToken, bool waiveGrace = false)
    {
        var removed = 0;
        var now = Now;
        var expired = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var package in _stored.Values.Where(p => p.Until is { } until && until <= now).ToList())
        {
            await _store.RemoveStoredAsync(package.ManifestId, cancellationToken);
            _stored.TryRemove(package.ManifestId, out _);
            expired.UnionWith(Parse(package.Manifest)?.Files.Select(f => f.Sha256) ?? []);
            _logger.LogInformation("Stored package {Package} expired at {Until:u}; removed from the cache", Parse(package.Manifest)?.Name, package.Until);
        }
        var kept = _stored.Values.Select(p => Parse(p.Manifest)).OfType<PackageManifest>().SelectMany(m => m.Files).Select(f => f.Sha256)
            .Concat(_snapshot.Manifests.Values.SelectMany(m => m.Files).Select(f => f.Sha256))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var hash in _cache.CachedHashes())
        {
            if (kept.Contains(hash))
            {
                continue;
            }
            // An expired package goes at once; content fetched for installs stays a while after the work that needed it.
            var unneeded = waiveGrace || expired.Contains(hash) || !_lastNeeded.TryGetValue(hash, out var last) || now - last >= _options.CacheGrace;
            if (unneeded && _cache.Remove(hash))
            {
                removed++;
                _lastNeeded.TryRemove(hash, out _);
                _logger.LogInformation("Removed {Sha256} from the cache: no stored package or current work needs it", hash);
            }
        }
        return removed;
    }

    /// <summary>A snapshot with its lookups.</summary>
    private sealed class Snapshot
    {
        public Snapshot(RelayWorkResponse work)
        {
            Work = work;
            ByHost = work.Items.GroupBy(i => i.HostId).ToDictionary(g => g.Key, g => g.ToList());
            ByWorkItem = work.Items.GroupBy(i => i.Item.WorkItemId).ToDictionary(g => g.Key, g => g.First());
            var parsed = work.Manifests.Select(m => (m.Key, Manifest: Parse(m.Value.Manifest))).ToList();
            // Only manifests that keep the rules name content here: their hashes become file names in the cache.
            Refused = parsed.Select(m => (m.Key, Problem: ManifestRules.Validate(m.Manifest))).Where(m => m.Problem is not null)
                .ToDictionary(m => m.Key, m => m.Problem!);
            Manifests = parsed.Where(m => !Refused.ContainsKey(m.Key)).ToDictionary(m => m.Key, m => m.Manifest!);
            // Read once per snapshot, not on every poll: a Transferred item is not served before its install time.
            InstallAt = work.Items.Select(i => (i.Item.WorkItemId, At: InstallAtOf(i))).Where(i => i.At is not null)
                .GroupBy(i => i.WorkItemId).ToDictionary(g => g.Key, g => g.First().At!.Value);
            PowerOrders = (work.PowerOrders ?? []).Select(o => (Signed: o, Order: SignedPowerOrder.Read(o))).Where(o => o.Order is not null)
                .Select(o => (o.Signed, o.Order!.OrderId, o.Order.HostId)).ToList();
        }

        /// <summary>The power orders (Stop-DistHost) for hosts below this relay, with the order and host each names.</summary>
        public List<(SignedPowerOrder Signed, Guid OrderId, Guid HostId)> PowerOrders { get; }

        public RelayWorkResponse Work { get; }
        public Dictionary<Guid, List<RelayWorkItem>> ByHost { get; }
        public Dictionary<Guid, RelayWorkItem> ByWorkItem { get; }
        public Dictionary<string, PackageManifest> Manifests { get; }

        /// <summary>The manifests that break <see cref="ManifestRules"/>, with what is wrong: not parsed into <see cref="Manifests"/>.</summary>
        public Dictionary<string, string> Refused { get; }

        /// <summary>The install time in each item's job settings, where one is set.</summary>
        public Dictionary<Guid, DateTime> InstallAt { get; }

        private static DateTime? InstallAtOf(RelayWorkItem item)
        {
            if (item.Item.JobSettings is null)
            {
                return null;
            }
            try
            {
                return JsonSerializer.Deserialize<JobSettings>(item.Item.JobSettings, ProtocolJson.Options)?.InstallAt;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}
