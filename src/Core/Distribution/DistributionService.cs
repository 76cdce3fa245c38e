using System.Collections.Concurrent;
using System.Linq.Expressions;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Conditions;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Security;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;
using JP1Dist.Protocol.Power;
using JP1Dist.Protocol.Signing;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Distribution;

/// <summary>
/// The manager's side of distribution: dispatching executions, handing work to polling hosts and
/// recording their reports. Hot paths use set-based updates, not change tracking.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification =
    "Lives as long as its engine, for the process; a SemaphoreSlim whose wait handle is never asked for holds nothing to release.")]
public sealed class DistributionService(DistEngine engine, HostSignals signals)
{
    private readonly GroupCommit _writes = engine.Writes;

    /// <summary>The reports of a shared commit's batch, recorded together.</summary>
    private readonly ReportWrites _reports = new(engine);

    /// <summary>
    /// How many polls look at the database at once. SQLite's queries run synchronously, so each look holds a thread:
    /// when a dispatch woke 10,000 polls together, all of them looked at once, starved the thread pool, queued on the
    /// connection pool's lock and finished together, so the first agent got its work a minute after the dispatch. Waiting
    /// here holds no thread, and the looks end one after another: the first answers leave at once. On PostgreSQL a look is
    /// round trips to another process, during which it holds no thread: with 2 × cores places there, 5,000–7,000 of
    /// 10,000 woken polls were answered after their agents had given up and polled again (docs/benchmarks.md), with 32
    /// about 1,400, the job's time unchanged; each place holds one of the pool's connections (100 by default).
    /// </summary>
    private readonly SemaphoreSlim _looks = new(LookPlaces(engine));

    /// <summary>
    /// How many polls look at once: 2 × cores on SQLite; on PostgreSQL a third of the connection pool (Maximum Pool Size,
    /// 100 by default), at most <see cref="PostgresLookPlaces"/>, leaving the rest to reports, registrations and cmdlets.
    /// </summary>
    private static int LookPlaces(DistEngine engine) => engine.Database.IsPostgreSql
        ? Math.Clamp(new Npgsql.NpgsqlConnectionStringBuilder(engine.Database.ConnectionString).MaxPoolSize / 3, 2, PostgresLookPlaces)
        : Math.Max(2, Environment.ProcessorCount * 2);

    /// <summary>The most looks at once on PostgreSQL.</summary>
    public const int PostgresLookPlaces = 32;

    /// <summary>
    /// Hosts whose last look found nothing to do, with the signal mark taken before that look and its answer: a poll of
    /// such a host answers from here, without a query, while no signal named it since and <see cref="QuietFor"/> has not passed.
    /// </summary>
    private readonly ConcurrentDictionary<Guid, QuietHost> _quiet = new();

    /// <summary>
    /// The ends of the quiet answers, soonest first (lock it), so that a renewal takes the hosts coming due without walking
    /// every quiet host each second: an entry whose host's answer has been replaced or dropped since is passed over.
    /// </summary>
    private readonly PriorityQueue<Guid, DateTimeOffset> _quietEnds = new();
    private long _looksMade;
    private long _looksSkipped;

    private sealed record QuietHost((long All, long Host) Mark, DateTimeOffset Until, IReadOnlyList<Guid> Open);

    /// <summary>
    /// Answers a dispatch prepared for the polls of its hosts (<see cref="SignalWithAnswersAsync"/>), each with the mark its
    /// host's poll must find: the one the dispatch's own signal made. A poll that finds another (something else was
    /// signalled since), or comes after <see cref="PreparedFor"/>, looks itself.
    /// </summary>
    private readonly ConcurrentDictionary<Guid, PreparedAnswer> _prepared = new();
    private long _answersPrepared;

    /// <summary>An answer a dispatch prepared, kept for the poll that finds <paramref name="Mark"/> before <paramref name="Until"/>.</summary>
    private sealed record PreparedAnswer((long All, long Host) Mark, DateTimeOffset Until, ReadyAnswer Answer);

    /// <summary>What a poll's answer is made from (<see cref="Answer"/>): its host's look, the items served and the power orders.</summary>
    private sealed record ReadyAnswer(HostLook Look, IReadOnlyList<WorkItem> Items, IReadOnlyList<SignedPowerOrder>? Power);

    /// <summary>
    /// How long an answer a dispatch prepared waits for its host's poll: the poll it was made for is woken at once, so one
    /// not taken by then is of a host that polls another node, or none (<see cref="DropUnclaimedAnswers"/>).
    /// </summary>
    public static readonly TimeSpan PreparedFor = TimeSpan.FromSeconds(10);

    /// <summary>Polls answered from the look a dispatch made for many hosts at once (GET /metrics).</summary>
    public long AnswersPrepared => Interlocked.Read(ref _answersPrepared);

    /// <summary>
    /// How long a host whose look found nothing is taken at its word without a signal: the bound on how late work is seen
    /// that some writer queued without a signal reaching this node (a cmdlet whose nudge failed, a peer node's lost
    /// notification). Every writer in this process signals, a nudge wakes every poll, and peer nodes' signals arrive. In the
    /// manager the quiet hosts are renewed together before it ends (<see cref="RenewQuietAsync"/>), so it is also how often
    /// such a lost change is looked for.
    /// </summary>
    public TimeSpan QuietFor { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Looks at the database made for agents' polls, and looks answered from a quiet host's last answer instead (GET /metrics).</summary>
    public (long Made, long Skipped) Looks => (Interlocked.Read(ref _looksMade), Interlocked.Read(ref _looksSkipped));

    /// <summary>The data folder this manager serves.</summary>
    public string Folder => engine.Folder.Root;


    /// <summary>Executions recorded by a cmdlet and not yet turned into a trigger.</summary>
    public async Task<IReadOnlyList<JobExecutionRow>> GetUnscheduledAsync(CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await db.JobExecutions.AsNoTracking().Where(x => x.ScheduledAt == null).OrderBy(x => x.Id).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Executions handed to the scheduler and not dispatched yet: due later, or lost with a manager that died while their
    /// trigger fired (the scheduler's own recovery covers that; the sweeper checks it did).
    /// </summary>
    public async Task<IReadOnlyList<JobExecutionRow>> GetUndispatchedAsync(CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await db.JobExecutions.AsNoTracking().Where(x => x.ScheduledAt != null && x.DispatchedAt == null).OrderBy(x => x.Id).ToListAsync(cancellationToken);
    }

    /// <summary>Marks an execution as handed to the scheduler.</summary>
    public async Task MarkScheduledAsync(int executionId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        await db.JobExecutions.Where(x => x.Id == executionId && x.ScheduledAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.ScheduledAt, now), cancellationToken);
    }

    /// <summary>
    /// Wakes the hosts of an execution of a job made with -WakeOnLan (<see cref="Hosts.HostWake"/>), once: the execution's
    /// WokenAt is set by compare-and-set first, so a wake that fires again (a recovered trigger) sends nothing twice. Each
    /// target still to be served keeps what was done for its host as its power note (the status message while no other is).
    /// <paramref name="address"/> and <paramref name="port"/> override the broadcast address and port (the manager's
    /// --wake-address and --wake-port). Returns the results, empty when it had woken already.
    /// </summary>
    public async Task<IReadOnlyList<DistHostWake>> WakeExecutionAsync(int executionId, System.Net.IPAddress? address, int port, CancellationToken cancellationToken)
    {
        var now = engine.Now;
        await using var db = engine.Database.CreateContext();
        if (await db.JobExecutions.Where(x => x.Id == executionId && x.WokenAt == null && x.WakeAt != null)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.WokenAt, now), cancellationToken) == 0)
        {
            return [];
        }
        var hostIds = await db.Targets.AsNoTracking()
            .Where(t => t.ExecutionId == executionId && (t.Status == TargetStatus.Waiting || t.Status == TargetStatus.Queued))
            .Select(t => t.HostId).ToListAsync(cancellationToken);
        var hosts = await Hosts.HostWake.Select(db.Hosts.AsNoTracking().Where(h => hostIds.Contains(h.Id)).OrderBy(h => h.NameKey)).ToListAsync(cancellationToken);
        var results = await new Hosts.HostWake(engine).WakeAsync(db, hosts, address, port, cancellationToken, executionId);
        foreach (var (host, result) in hosts.Zip(results))
        {
            await db.Targets.Where(t => t.ExecutionId == executionId && t.HostId == host.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.PowerNote, result.Message), cancellationToken);
        }
        // The relays above woken hosts answer their polls with the orders now.
        signals.Notify(hosts.Where(h => h.ParentHostId is not null).Select(h => h.Id));
        return results;
    }

    /// <summary>
    /// The execution time has come: its waiting targets become queued, and their hosts are woken. A host whose known
    /// facts already fail the install conditions becomes ConditionNotMet instead and is not sent the package. Once per
    /// execution: a dispatch of an execution already dispatched (its trigger fired again, on this node or another) queues
    /// nothing and answers 0.
    /// </summary>
    public async Task<int> DispatchAsync(int executionId, CancellationToken cancellationToken) =>
        (await DispatchOnceAsync(executionId, cancellationToken))?.Queued ?? 0;

    /// <summary>What <see cref="DispatchAsync"/> does; null when the execution had been dispatched already (nothing done).</summary>
    public async Task<DispatchOutcome?> DispatchOnceAsync(int executionId, CancellationToken cancellationToken)
    {
        var now = engine.Now;
        List<Guid> hosts;
        await using (var db = engine.Database.CreateContext())
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            // The claim, first: one dispatch per execution, whichever node (or recovered trigger) fires it. A second one at
            // the same time waits for the first's commit on this row and finds it dispatched; if the first never commits
            // (its manager died), the claim was never made and the second dispatches.
            if (await db.JobExecutions.Where(x => x.Id == executionId && x.DispatchedAt == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(x => x.DispatchedAt, now), cancellationToken) == 0)
            {
                return null;
            }
            // A removed job's executions went with it, and so did its targets: nothing to dispatch.
            var job = await (from x in db.JobExecutions.AsNoTracking()
                             join j in db.Jobs on x.JobId equals j.Id
                             join p in db.Packages on j.PackageId equals p.Id
                             where x.Id == executionId
                             select new { Job = j, Package = p }).FirstOrDefaultAsync(cancellationToken);
            var jobId = job?.Job.Id ?? 0;
            // The conditions each target's signed settings carry, as they were made (not read back from 10,000 settings).
            var condition = job is null ? null : AttemptSettings.Conditions(job.Job, job.Package);
            // The hosts' known facts only when there are conditions to check them against (most jobs have none: 10,000 hosts'
            // volume lists read for nothing, before the first agent could be given its work).
            var waitingTargets = db.Targets.Where(t => t.ExecutionId == executionId && t.Status == TargetStatus.Waiting);
            var waiting = await (condition is null
                    ? waitingTargets.Select(t => new WaitingTarget(t.Id, t.HostId, null))
                    : from t in waitingTargets
                      join h in db.Hosts on t.HostId equals h.Id
                      select new WaitingTarget(t.Id, t.HostId, new KnownFacts(h.OS, h.OSVersion, h.Architecture, h.MemoryMB, h.VolumesJson)))
                .ToListAsync(cancellationToken);
            hosts = [];
            var alreadyStored = await SkipAlreadyStoredAsync(db, jobId, executionId, now, cancellationToken);
            // Software facts only when a condition asks about software, in one query for the hosts concerned.
            var softwareHosts = condition is { } c && (c.SoftwareInstalled is { Count: > 0 } || c.SoftwareAbsent is { Count: > 0 })
                ? waiting.Select(t => t.HostId).Distinct().ToList()
                : [];
            var software = softwareHosts.Count == 0 ? [] : await HostConditionFacts.SoftwareAsync(db, softwareHosts, cancellationToken);
            foreach (var target in waiting.Where(t => !alreadyStored.Contains(t.Id)))
            {
                if (condition is null)
                {
                    hosts.Add(target.HostId);
                    continue;
                }
                var known = target.Facts ?? throw new InvalidOperationException($"The dispatch of execution {executionId} read no facts of host {target.HostId} for its conditions.");
                var facts = HostConditionFacts.From(known.OS, known.OSVersion, known.Architecture, known.MemoryMB, known.VolumesJson,
                    software.GetValueOrDefault(target.HostId));
                var verdict = ConditionEvaluator.Evaluate(condition, facts);
                if (!verdict.Met)
                {
                    await TargetCounts.MoveAsync(db, db.Targets.Where(t => t.Id == target.Id), [TargetStatus.Waiting], TargetStatus.ConditionNotMet, s => s
                        .SetProperty(t => t.Message, verdict.Message + " (checked by the manager; the package was not sent)")
                        .SetProperty(t => t.CompletedAt, now)
                        .SetProperty(t => t.UpdatedAt, now), cancellationToken, jobId);
                    continue;
                }
                hosts.Add(target.HostId);
            }
            await TargetCounts.MoveAsync(db, db.Targets.Where(t => t.ExecutionId == executionId), [TargetStatus.Waiting], TargetStatus.Queued, s => s
                .SetProperty(t => t.QueuedAt, now)
                .SetProperty(t => t.UpdatedAt, now)
                .SetProperty(t => t.Message, (string?)null), cancellationToken, jobId);
            await transaction.CommitAsync(cancellationToken);
        }
        var answersFailed = await SignalWithAnswersAsync(hosts, cancellationToken);
        engine.TargetChanges.Notify();
        return new DispatchOutcome(hosts.Count, answersFailed);
    }

    /// <summary>A target a dispatch queues, with its host's known facts when the job has conditions to check.</summary>
    private sealed record WaitingTarget(long Id, Guid HostId, KnownFacts? Facts);

    /// <summary>What the manager knows of a host that install conditions look at.</summary>
    private sealed record KnownFacts(string OS, string OSVersion, string Architecture, long MemoryMB, string VolumesJson);

    /// <summary>
    /// A transfer-to-relay target whose relay already holds this package with the package's current expiry (a
    /// StoredOnRelay target of any transfer-to-relay job, same package, same relay, not yet expired) goes straight to
    /// StoredOnRelay: nothing is sent. When the expiry changed since, the package is sent again and the relay replaces
    /// it. Compare-and-set on Waiting, like the condition pre-check; returns the targets it settled.
    /// </summary>
    private static async Task<HashSet<long>> SkipAlreadyStoredAsync(DistDbContext db, int jobId, int executionId, DateTime now, CancellationToken cancellationToken)
    {
        var stored = await (from t in db.Targets
                            join j in db.Jobs on t.JobId equals j.Id
                            join p in db.Packages on j.PackageId equals p.Id
                            where t.ExecutionId == executionId && t.Status == TargetStatus.Waiting && j.Type == JobType.TransferToRelay
                                  && (from o in db.Targets
                                      join oj in db.Jobs on o.JobId equals oj.Id
                                      where o.HostId == t.HostId && o.Status == TargetStatus.StoredOnRelay && oj.PackageId == j.PackageId
                                            && oj.Type == JobType.TransferToRelay && o.StoredUntil == p.ExpiresAt
                                            && (o.StoredUntil == null || o.StoredUntil > now)
                                      select o.Id).Any()
                            select new { t.Id, p.ExpiresAt }).ToListAsync(cancellationToken);
        var settled = new HashSet<long>();
        foreach (var target in stored)
        {
            var message = target.ExpiresAt is { } until
                ? $"Already stored on the relay until {until.ToLocalTime():yyyy-MM-dd HH:mm}; not sent again."
                : "Already stored on the relay (no expiry); not sent again.";
            var changed = await TargetCounts.MoveAsync(db, db.Targets.Where(t => t.Id == target.Id), [TargetStatus.Waiting], TargetStatus.StoredOnRelay, s => s
                .SetProperty(t => t.StoredUntil, target.ExpiresAt)
                .SetProperty(t => t.Message, message)
                .SetProperty(t => t.CompletedAt, now)
                .SetProperty(t => t.UpdatedAt, now), cancellationToken, jobId);
            if (changed > 0)
            {
                settled.Add(target.Id);
            }
        }
        return settled;
    }

    /// <summary>How long after a failure a job with a retry limit re-executes the target automatically, at the host's next connection.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The work a host should do now: every unfinished, dispatched target of its, with the signed manifest and job
    /// settings. A Transferred target waiting for its install time is not served before that time (the agent keeps the
    /// pending install itself); suspended and canceled targets are not served at all.
    /// </summary>
    public async Task<IReadOnlyList<WorkItem>> GetWorkAsync(Guid hostId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        await RetryFailedAsync(db, [hostId], cancellationToken);
        return await ServeAsync(db, hostId, cancellationToken);
    }

    /// <summary>A target served to its host, with what its work item carries.</summary>
    private sealed class ServedRow
    {
        public long Id { get; init; }
        public Guid HostId { get; init; }
        public Guid WorkItemId { get; init; }
        public required string Job { get; init; }
        public int Attempt { get; init; }
        public int PackageId { get; init; }
        public string? JobSettingsJson { get; init; }
        public string? JobSettingsSignature { get; init; }
        public DateTime? SettingsExpiresAt { get; init; }
        public string? SettingsSigningKey { get; init; }
    }

    /// <summary>
    /// The targets the hosts <c>hosts</c> picks are served now, oldest first: one host's for a poll (<see cref="ServedQuery"/>),
    /// many for the answers a dispatch prepares (<see cref="PrepareAnswersAsync"/>). Without their package's manifest, which
    /// is the same for every target of a job and read once per package (<see cref="ServedManifests"/>): a dispatch to
    /// 10,000 hosts read it 10,000 times.
    /// </summary>
    private static readonly QueryRule<DistDbContext, Expression<Func<TargetRow, bool>>, DateTime, IQueryable<ServedRow>> ServedRows = new((db, hosts, now) =>
        from t in db.Targets.AsNoTracking().Where(hosts)
        join j in db.Jobs on t.JobId equals j.Id
        where TargetStates.Servable.Contains(t.Status) && (t.Status != TargetStatus.Transferred || t.InstallAt == null || t.InstallAt <= now)
        orderby t.QueuedAt
        select new ServedRow
        {
            Id = t.Id, HostId = t.HostId, WorkItemId = t.WorkItemId, Job = j.Name, Attempt = t.Attempt, PackageId = j.PackageId,
            JobSettingsJson = t.JobSettingsJson, JobSettingsSignature = t.JobSettingsSignature, SettingsExpiresAt = t.SettingsExpiresAt,
            SettingsSigningKey = t.SettingsSigningKey,
        });

    /// <summary>
    /// The targets a host is served now (<see cref="ServeAsync"/>): compiled once, since every poll the dispatch wakes runs
    /// it (EF Core otherwise walks and looks up the expression tree each time).
    /// </summary>
    private static readonly Func<DistDbContext, Guid, DateTime, IAsyncEnumerable<ServedRow>> ServedQuery = EF.CompileAsyncQuery(QueryRule.Inline(
        (DistDbContext db, Guid hostId, DateTime now) => ServedRows.Apply(db, t => t.HostId == hostId, now)));

    /// <summary>
    /// The work items a host is served now, each with its manifest and settings signed by the current key (signed again
    /// when a rotation or half their lifetime calls for it): what a poll answers, and what offline media carry.
    /// </summary>
    internal async Task<IReadOnlyList<WorkItem>> ServeAsync(DistDbContext db, Guid hostId, CancellationToken cancellationToken)
    {
        var rows = new List<ServedRow>();
        await foreach (var row in ServedQuery(db, hostId, engine.Now).WithCancellation(cancellationToken))
        {
            rows.Add(row);
        }
        if (rows.Count == 0)
        {
            return []; // most looks: no key needed (reading it is a query of its own)
        }
        var manifests = new ServedManifests(engine.SigningKeys.Current());
        await manifests.ReadAsync(db, rows.Select(r => r.PackageId), cancellationToken);
        return await ItemsAsync(db, manifests, hostId, rows, cancellationToken);
    }

    /// <summary>
    /// A host's served rows as work items, signed by the key of <paramref name="manifests"/>, which holds their packages'
    /// manifests. A row whose package is not there (removed with its job since the rows were read) is not served.
    /// </summary>
    private async Task<IReadOnlyList<WorkItem>> ItemsAsync(DistDbContext db, ServedManifests manifests, Guid hostId,
        IReadOnlyCollection<ServedRow> rows, CancellationToken cancellationToken)
    {
        var items = new List<WorkItem>(rows.Count);
        foreach (var r in rows)
        {
            if (manifests.Of(r.PackageId) is not { } package)
            {
                continue;
            }
            var (settings, signature) = await CurrentSettingsAsync(db, manifests.Key, r.Id, r.WorkItemId, hostId, r.Job, package.Name, package.Version, package.Json,
                r.JobSettingsJson, r.JobSettingsSignature, r.SettingsExpiresAt, r.SettingsSigningKey, cancellationToken);
            items.Add(new WorkItem(r.WorkItemId, r.Job, r.Attempt, package.Json, package.Signature, settings, signature));
        }
        return items;
    }

    /// <summary>A package as its work items serve it: the manifest, and its signature by the current key.</summary>
    private sealed record ServedManifest(string Name, string Version, string Json, string Signature);

    /// <summary>A package's manifest as stored, with the key that made its stored signature.</summary>
    private sealed record ManifestRow(int Id, string Name, string Version, string ManifestJson, string ManifestSignature, string? ManifestSigningKey);

    /// <summary>The manifests of the packages <c>which</c> picks.</summary>
    private static readonly QueryRule<DistDbContext, Expression<Func<PackageRow, bool>>, IQueryable<ManifestRow>> ManifestRows = new((db, which) =>
        db.Packages.AsNoTracking().Where(which)
            .Select(p => new ManifestRow(p.Id, p.Name, p.Version, p.ManifestJson, p.ManifestSignature, p.ManifestSigningKey)));

    /// <summary>One package's manifest, compiled: a poll that serves on its own reads it.</summary>
    private static readonly Func<DistDbContext, int, IAsyncEnumerable<ManifestRow>> OnePackage = EF.CompileAsyncQuery(QueryRule.Inline(
        (DistDbContext db, int id) => ManifestRows.Apply(db, p => p.Id == id)));

    /// <summary>
    /// The manifests of the packages an answer (or a dispatch's answers) serves, each read once and signed by
    /// <see cref="Key"/>: as stored when that key made the stored signature, else signed again (after a rotation) and
    /// stored, a compare-and-set on the key that made the stored one.
    /// </summary>
    private sealed class ServedManifests(CurrentSigningKey key)
    {
        private readonly Dictionary<int, ServedManifest> _packages = [];

        public CurrentSigningKey Key => key;

        /// <summary>The package's manifest as served, or null when it was not found (<see cref="ReadAsync"/>).</summary>
        public ServedManifest? Of(int packageId) => _packages.GetValueOrDefault(packageId);

        /// <summary>Reads the manifests of the packages <paramref name="packageIds"/> that are not read yet, in one query.</summary>
        public async Task ReadAsync(DistDbContext db, IEnumerable<int> packageIds, CancellationToken cancellationToken)
        {
            var missing = packageIds.Where(id => !_packages.ContainsKey(id)).Distinct().ToList();
            if (missing.Count == 0)
            {
                return;
            }
            // One package (a poll that serves on its own, nearly always) through a compiled query; several in one query.
            var packages = missing.Count == 1
                ? await OnePackage(db, missing[0]).ToListAsync(cancellationToken)
                : await ManifestRows.Apply(db, p => missing.Contains(p.Id)).ToListAsync(cancellationToken);
            foreach (var p in packages)
            {
                var signature = p.ManifestSignature;
                if (!key.Signed(p.ManifestSigningKey))
                {
                    signature = key.Signer.Sign(p.ManifestJson);
                    await db.Packages.Where(x => x.Id == p.Id && x.ManifestSigningKey == p.ManifestSigningKey)
                        .ExecuteUpdateAsync(s => s
                            .SetProperty(x => x.ManifestSignature, signature)
                            .SetProperty(x => x.ManifestSigningKey, key.Fingerprint), cancellationToken);
                }
                _packages[p.Id] = new ServedManifest(p.Name, p.Version, p.ManifestJson, signature);
            }
        }
    }

    /// <summary>
    /// A target's signed settings as they are served: as stored while more than half of their lifetime is left and the
    /// current key signed them, else signed again by the current key with a fresh expiry (compare-and-set on the ticket, so
    /// a re-execution meanwhile keeps its own).
    /// </summary>
    private async Task<(string? Json, string? Signature)> CurrentSettingsAsync(DistDbContext db, CurrentSigningKey key, long targetId, Guid workItemId, Guid hostId,
        string job, string package, string version, string manifestJson, string? json, string? signature, DateTime? expiresAt, string? signingKey,
        CancellationToken cancellationToken)
    {
        if (json is null || (expiresAt is { } at && at - engine.Now > SignedWork.Lifetime / 2 && key.Signed(signingKey)))
        {
            return (json, signature);
        }
        if (Jobs.AttemptSettings.Renew(engine, key, json, hostId, job, package, version, manifestJson) is not { } renewed)
        {
            return (json, signature);
        }
        await db.Targets.Where(t => t.Id == targetId && t.WorkItemId == workItemId)
            .ExecuteUpdateAsync(s => s
                .SetProperty(t => t.JobSettingsJson, renewed.Json)
                .SetProperty(t => t.JobSettingsSignature, renewed.Signature)
                .SetProperty(t => t.SettingsExpiresAt, renewed.ExpiresAt)
                .SetProperty(t => t.SettingsSigningKey, renewed.KeyFingerprint), cancellationToken);
        return (renewed.Json, renewed.Signature);
    }

    /// <summary>
    /// The automatic-retry rule: failed targets of jobs with a retry limit, with attempts left; each is due once it failed
    /// <see cref="RetryDelay"/> ago (<see cref="RetryCutoff"/>).
    /// </summary>
    private static readonly QueryRule<DistDbContext, IQueryable<TargetRow>> RetryCandidates = new(db =>
        db.Targets.Where(t => t.Status == TargetStatus.Failed && db.Jobs.Any(j => j.Id == t.JobId && j.RetryLimit >= t.Attempt)));

    /// <summary>A retry candidate that failed at or before this time is due now.</summary>
    private DateTime RetryCutoff() => engine.Now - RetryDelay;

    /// <summary>
    /// A host connects: its failed targets of jobs with a retry limit, failed at least <see cref="RetryDelay"/> ago and
    /// with attempts left, are queued again with a new ticket. Each is a compare-and-set on (status, attempt), so two
    /// polls at once cannot both retry the same target.
    /// </summary>
    private async Task RetryFailedAsync(DistDbContext db, IReadOnlyCollection<Guid> hostIds, CancellationToken cancellationToken)
    {
        var now = engine.Now;
        var cutoff = RetryCutoff();
        var due = await (from t in RetryCandidates.Apply(db).AsNoTracking()
                         join j in db.Jobs on t.JobId equals j.Id
                         join p in db.Packages on j.PackageId equals p.Id
                         where hostIds.Contains(t.HostId) && t.CompletedAt <= cutoff
                         select new { t.Id, t.HostId, t.Attempt, t.Message, j.RetryLimit, Job = j, Package = p }).ToListAsync(cancellationToken);
        foreach (var target in due)
        {
            var message = Truncate($"Automatic retry {target.Attempt} of {target.RetryLimit} after: {target.Message}", 2000);
            var ticket = Guid.NewGuid();
            // A new ticket needs its own signed settings: the agent refuses settings signed for another work item.
            var signed = Jobs.AttemptSettings.Sign(engine, target.Job, target.Package, ticket, target.HostId);
            await RequeueAsync(db, target.Job.Id, target.Id, target.Attempt, ticket, signed, message, now, cancellationToken);
        }
        if (due.Count > 0)
        {
            engine.TargetChanges.Notify();
        }
    }

    /// <summary>
    /// Queues a failed target again as its next attempt, with a new ticket and its signed settings: a compare-and-set on
    /// (Failed, attempt), so two retries of the same failure cannot both happen. True when it moved.
    /// </summary>
    private static async Task<bool> RequeueAsync(DistDbContext db, int jobId, long targetId, int attempt, Guid ticket, Jobs.SignedAttempt signed, string? message,
        DateTime now, CancellationToken cancellationToken) =>
        await TargetCounts.MoveAsync(db, db.Targets.Where(t => t.Id == targetId && t.Attempt == attempt), [TargetStatus.Failed], TargetStatus.Queued, s => s
                .SetProperty(t => t.Attempt, attempt + 1)
                .SetProperty(t => t.WorkItemId, ticket)
                .SetProperty(t => t.JobSettingsJson, signed.Json)
                .SetProperty(t => t.JobSettingsSignature, signed.Signature)
                .SetProperty(t => t.SettingsExpiresAt, signed.ExpiresAt)
                .SetProperty(t => t.SettingsSigningKey, signed.KeyFingerprint)
                .SetProperty(t => t.InstallAt, signed.InstallAt)
                .SetProperty(t => t.SegmentsTransferred, 0)
                .SetProperty(t => t.Message, message)
                .SetProperty(t => t.ExitCode, (int?)null)
                .SetProperty(t => t.OutputTail, (string?)null)
                .SetProperty(t => t.BytesTransferred, 0L)
                .SetProperty(t => t.QueuedAt, now)
                .SetProperty(t => t.StartedAt, (DateTime?)null)
                .SetProperty(t => t.CompletedAt, (DateTime?)null)
                .SetProperty(t => t.ServedByHostId, (Guid?)null)
                .SetProperty(t => t.UpdatedAt, now), cancellationToken, jobId) > 0;

    /// <summary>How long after an install ended with one of its package's retry codes (1618: another installation was in progress) it runs again.</summary>
    public TimeSpan RetryLaterDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How many attempts a target has in all while its installs end with retry codes; the last one's failure stands.</summary>
    public const int RetryLaterAttempts = 5;

    /// <summary>
    /// A failed install whose exit code is one of its package's retry codes (read by <see cref="ExitCodes"/>, as the agent
    /// reads it, for the host's operating system) is queued again as a new attempt that installs no sooner than
    /// <see cref="RetryLaterDelay"/> from now, up to <see cref="RetryLaterAttempts"/> attempts; the host is woken for it.
    /// </summary>
    private async Task RetryLaterAsync(Guid hostId, Guid workItemId, int exitCode, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var target = await (from t in db.Targets.AsNoTracking()
                            join j in db.Jobs on t.JobId equals j.Id
                            join p in db.Packages on j.PackageId equals p.Id
                            join h in db.Hosts on t.HostId equals h.Id
                            where t.WorkItemId == workItemId && t.HostId == hostId && t.Status == TargetStatus.Failed
                            select new { t.Id, t.Attempt, t.Message, h.OS, Job = j, Package = p }).FirstOrDefaultAsync(cancellationToken);
        if (target is null || target.Job.Type != JobType.Install
            || JsonSerializer.Deserialize<PackageManifest>(target.Package.ManifestJson, ProtocolJson.Options) is not { } manifest
            || ExitCodes.Read(manifest, exitCode, ExitCodes.IsEightBit(target.OS)).Meaning != ExitCodeMeaning.RetryLater)
        {
            return;
        }
        var now = engine.Now;
        if (target.Attempt >= RetryLaterAttempts)
        {
            var final = Truncate($"{target.Message} No retry left: {target.Attempt} attempts ended with a retry code.", 2000);
            await db.Targets.Where(t => t.Id == target.Id && t.Status == TargetStatus.Failed && t.Attempt == target.Attempt)
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.Message, final), cancellationToken);
            engine.TargetChanges.Notify();
            return;
        }
        var ticket = Guid.NewGuid();
        var later = now + RetryLaterDelay;
        var signed = Jobs.AttemptSettings.For(engine, target.Job, target.Package).Sign(ticket, hostId, notBefore: later);
        var message = Truncate($"Retry {target.Attempt + 1} of {RetryLaterAttempts}, installing at {signed.InstallAt:yyyy-MM-dd HH:mm:ss} UTC, after: {target.Message}", 2000);
        if (await RequeueAsync(db, target.Job.Id, target.Id, target.Attempt, ticket, signed, message, now, cancellationToken))
        {
            signals.Notify([hostId]);
            engine.TargetChanges.Notify();
        }
    }

    /// <summary>
    /// Ends the offers of user-choice jobs whose package has expired: each such target still Available becomes Canceled
    /// with a message naming the expiry (compare-and-set: a user's install that began meanwhile is left alone). The agents
    /// drop the offer by the same expiry, which the manager signed into the offer. Returns how many offers ended.
    /// </summary>
    public async Task<int> EndExpiredOffersAsync(CancellationToken cancellationToken)
    {
        var now = engine.Now;
        await using var read = engine.Database.CreateContext();
        var expired = await (from t in read.Targets.AsNoTracking()
                             join j in read.Jobs on t.JobId equals j.Id
                             join p in read.Packages on j.PackageId equals p.Id
                             where t.Status == TargetStatus.Available && j.Type == JobType.UserChoice && p.ExpiresAt != null && p.ExpiresAt <= now
                             select new { t.Id, t.JobId, t.HostId, p.Name, p.Version, Expired = p.ExpiresAt!.Value }).ToListAsync(cancellationToken);
        var ended = new List<Guid>();
        foreach (var offer in expired)
        {
            var message = $"The offer ended: package '{offer.Name}' {offer.Version} expired at {offer.Expired:yyyy-MM-dd HH:mm:ss} UTC before this computer's user installed it.";
            var changed = await _writes.RunAsync(db => TargetCounts.MoveAsync(db, db.Targets.Where(t => t.Id == offer.Id), [TargetStatus.Available], TargetStatus.Canceled, s => s
                .SetProperty(t => t.Message, message)
                .SetProperty(t => t.UpdatedAt, now)
                .SetProperty(t => t.CompletedAt, now), CancellationToken.None, offer.JobId));
            if (changed > 0)
            {
                ended.Add(offer.HostId);
            }
        }
        if (ended.Count > 0)
        {
            signals.Notify(ended.Distinct().ToList());
            engine.TargetChanges.Notify();
        }
        return ended.Count;
    }

    /// <summary>
    /// Waits up to <paramref name="wait"/> for work or a power order (Stop-DistHost), returning as soon as either is there.
    /// The answer's signing-key announcements are the caller's to add.
    /// </summary>
    /// <remarks>
    /// It also answers when one of the host's open work items ends while it waits (a job removed or a target canceled): the
    /// agent then withdraws an offer at once instead of at its next poll. A new item that is not served yet (an execution's
    /// Waiting targets before their dispatch) is no reason to answer: the dispatch wakes the poll with the work.
    /// <para>
    /// A poll looks as it starts and when a signal names its host (<see cref="LongPoll"/>). A host whose last look found
    /// nothing (no servable target, no retry to come, no power order) and for which nothing was signalled since
    /// (<see cref="HostSignals.Mark"/>, taken before that look) is answered from that look for <see cref="QuietFor"/>:
    /// with 10,000 agents idle, the manager answers hundreds of polls a second, and most need no query at all.
    /// </para>
    /// <para>
    /// A look holds one database connection, opened once, and an idle host's look is two queries: its targets that are open
    /// or may be retried (<see cref="LookAsync"/>), and its power orders. The work itself is read only when a target is in a
    /// servable state (by a compiled query), the due retries are queued only at the poll's first look (as the host connects),
    /// and a target served in the answer is listed in <see cref="WorkResponse.Open"/> with those the look found open.
    /// </para>
    /// </remarks>
    public Task<WorkResponse> WaitForWorkAsync(Guid hostId, TimeSpan wait, CancellationToken cancellationToken)
    {
        HashSet<Guid>? openAtStart = null;
        var connected = false;
        return LongPoll.WaitAsync(signals, hostId, wait, engine.Time,
            async ct =>
            {
                // Before the look: a signal from here on changes the mark, and the next poll looks.
                var mark = signals.Mark(hostId);
                if (_prepared.TryRemove(hostId, out var ready) && connected && ready.Mark == mark && engine.Time.GetUtcNow() < ready.Until)
                {
                    // A dispatch looked at this host with many others and its signal woke this poll, which has looked before:
                    // nothing was signalled since. A poll that starts looks itself (it may follow one that did, in between).
                    Interlocked.Increment(ref _answersPrepared);
                    return Answer(hostId, mark, ready.Answer.Look, ready.Answer.Items, ready.Answer.Power);
                }
                if (_quiet.TryGetValue(hostId, out var quiet) && quiet.Mark == mark && engine.Time.GetUtcNow() < quiet.Until)
                {
                    Interlocked.Increment(ref _looksSkipped);
                    connected = true;
                    return new WorkResponse([], PowerOrders: null, Open: quiet.Open);
                }
                await _looks.WaitAsync(ct);
                try
                {
                    Interlocked.Increment(ref _looksMade);
                    await using var db = engine.Database.CreateContext();
                    // Open for the whole look: EF would take the connection from the pool and give it back for every query,
                    // and the pool's one lock was where 10,000 waking polls queued (most of the manager's blocked threads).
                    await db.Database.OpenConnectionAsync(ct);
                    var look = await LookAsync(db, hostId, ct);
                    if (!connected && look.RetryDue)
                    {
                        await RetryFailedAsync(db, [hostId], ct);
                        look = await LookAsync(db, hostId, ct);
                    }
                    connected = true;
                    var items = look.MayServe ? await ServeAsync(db, hostId, ct) : [];
                    return Answer(hostId, mark, look, items, await PowerOrdersAsync(db, hostId, ct));
                }
                finally
                {
                    _looks.Release();
                }
            },
            work =>
            {
                openAtStart ??= [.. work.Open ?? []];
                // Withdrawn items answer at once; new ones not yet served (an execution's Waiting targets) wait for their dispatch.
                return work.Items.Count > 0 || work.PowerOrders is { Count: > 0 } || !openAtStart.IsSubsetOf(work.Open ?? []);
            }, cancellationToken);
    }

    /// <summary>
    /// A poll's answer from a look at its host (its own, or a dispatch's for many hosts): the items served, the power orders,
    /// and the open items; a host the look found nothing for is taken as quiet from <paramref name="mark"/> on.
    /// </summary>
    private WorkResponse Answer(Guid hostId, (long All, long Host) mark, HostLook look, IReadOnlyList<WorkItem> items, IReadOnlyList<SignedPowerOrder>? power)
    {
        // An item served is open, also one dispatched since the look; one that ended since is withdrawn by the next poll,
        // which comes at once after an answer with work.
        IReadOnlyList<Guid> open = items.Count > 0 ? [.. look.Open.Union(items.Select(i => i.WorkItemId))] : look.Open;
        // A retry due now is queued by the next poll's first look (as the host connects): that poll must look.
        if (look.Quiet && power is null)
        {
            KeepQuiet(hostId, new QuietHost(mark, engine.Time.GetUtcNow() + QuietFor, open));
        }
        else
        {
            _quiet.TryRemove(hostId, out _);
        }
        return new WorkResponse(items, PowerOrders: power, Open: open);
    }

    /// <summary>Takes a host at its word until <c>quiet.Until</c>, and books the renewal of that.</summary>
    private void KeepQuiet(Guid hostId, QuietHost quiet)
    {
        _quiet[hostId] = quiet;
        BookQuietEnd(hostId, quiet.Until);
    }

    private void BookQuietEnd(Guid hostId, DateTimeOffset until)
    {
        lock (_quietEnds)
        {
            _quietEnds.Enqueue(hostId, until);
        }
    }

    /// <summary>
    /// The quiet hosts whose answer ends by <paramref name="by"/>, taken out of <see cref="_quietEnds"/>, each once; entries
    /// of answers replaced or dropped since are passed over.
    /// </summary>
    private List<KeyValuePair<Guid, QuietHost>> TakeQuietEnds(DateTimeOffset by)
    {
        var due = new List<KeyValuePair<Guid, QuietHost>>();
        var taken = new HashSet<Guid>();
        lock (_quietEnds)
        {
            while (_quietEnds.TryPeek(out var hostId, out var until) && until <= by)
            {
                _quietEnds.Dequeue();
                if (_quiet.TryGetValue(hostId, out var quiet) && quiet.Until == until && taken.Add(hostId))
                {
                    due.Add(new KeyValuePair<Guid, QuietHost>(hostId, quiet));
                }
            }
        }
        return due;
    }

    /// <summary>
    /// What one look at a host finds in one query: its open work items, whether one is in a servable state (whether it is
    /// served now, <see cref="ServeAsync"/> decides), whether a failed target is due for an automatic retry now, and
    /// whether one will be later (the host's look then finds something without a signal, so it is never quiet).
    /// </summary>
    private sealed record HostLook(IReadOnlyList<Guid> Open, bool MayServe, bool RetryDue, bool RetryLater)
    {
        /// <summary>
        /// Nothing to serve, no retry now or later: the host's look finds nothing new until a signal, so its answer may be
        /// kept (a poll's answer, and its renewal, also ask that no power order waits for the host).
        /// </summary>
        public bool Quiet => !MayServe && !RetryDue && !RetryLater;
    }

    /// <summary>
    /// The host's targets in no final state, and its failed targets an automatic retry may take (<see cref="RetryFailedAsync"/>'s
    /// rule, now or later), in one query: an idle host has none, and its look costs this query and the power orders'.
    /// </summary>
    private async Task<HostLook> LookAsync(DistDbContext db, Guid hostId, CancellationToken cancellationToken)
    {
        var cutoff = RetryCutoff();
        var rows = new List<LookRow>();
        await foreach (var row in LookQuery(db, hostId).WithCancellation(cancellationToken))
        {
            rows.Add(row);
        }
        return LookOf(rows, cutoff);
    }

    /// <summary>What a host's rows of <see cref="LookRows"/> say.</summary>
    private static HostLook LookOf(IReadOnlyCollection<LookRow> rows, DateTime cutoff)
    {
        if (rows.Count == 0)
        {
            return new HostLook([], false, false, false);
        }
        var open = rows.Where(r => !r.Status.IsFinal()).Select(r => r.WorkItemId).ToList();
        var retries = rows.Where(r => r.Status == TargetStatus.Failed).ToList();
        return new HostLook(open, rows.Any(r => TargetStates.Servable.Contains(r.Status)),
            retries.Any(r => r.CompletedAt <= cutoff), retries.Any(r => !(r.CompletedAt <= cutoff)));
    }

    /// <summary>A row of <see cref="LookRows"/>.</summary>
    private sealed class LookRow
    {
        public Guid HostId { get; init; }
        public Guid WorkItemId { get; init; }
        public TargetStatus Status { get; init; }
        public DateTime? CompletedAt { get; init; }
    }

    /// <summary>Targets as <see cref="LookRow"/>s (a rule, so that <see cref="LookRows"/> inlines it into a compiled query).</summary>
    private static readonly QueryRule<IQueryable<TargetRow>, IQueryable<LookRow>> AsLookRows = new(targets =>
        targets.Select(t => new LookRow { HostId = t.HostId, WorkItemId = t.WorkItemId, Status = t.Status, CompletedAt = t.CompletedAt }));

    /// <summary>
    /// The look's rule over the hosts a predicate picks: their open targets, and their retry candidates by the same
    /// rule <see cref="RetryFailedAsync"/> takes them by. A poll's look takes one host (<see cref="LookQuery"/>), a renewal
    /// hundreds (<see cref="RenewQuietAsync"/>).
    /// </summary>
    private static readonly QueryRule<DistDbContext, Expression<Func<TargetRow, bool>>, IQueryable<LookRow>> LookRows = new((db, hosts) =>
        AsLookRows.Apply(db.Targets.AsNoTracking().Where(hosts).Where(t => !Hosts.HostService.FinalStatuses.Contains(t.Status)))
            .Concat(AsLookRows.Apply(RetryCandidates.Apply(db).AsNoTracking().Where(hosts))));

    /// <summary>A poll's look at its host (<see cref="LookRows"/>), compiled: every woken poll makes one.</summary>
    private static readonly Func<DistDbContext, Guid, IAsyncEnumerable<LookRow>> LookQuery = EF.CompileAsyncQuery(QueryRule.Inline(
        (DistDbContext db, Guid hostId) => LookRows.Apply(db, t => t.HostId == hostId)));

    /// <summary>What one look at many hosts finds (<see cref="LookAtManyAsync"/>): their rows of <see cref="LookRows"/> and their open power orders, by host.</summary>
    private sealed record ManyLooks(ILookup<Guid, LookRow> Rows, ILookup<Guid, SignedPowerOrder> Power);

    /// <summary>
    /// The look a poll makes at its host (<see cref="LookRows"/> and <see cref="OpenPowerOrders"/>), made for many hosts at
    /// once on <paramref name="db"/>'s open connection, two queries: a renewal's (<see cref="RenewQuietAsync"/>) and a
    /// dispatch's (<see cref="PrepareAnswersAsync"/>).
    /// </summary>
    private static async Task<ManyLooks> LookAtManyAsync(DistDbContext db, List<Guid> ids, DateTime now, CancellationToken cancellationToken)
    {
        var rows = (await LookRows.Apply(db, t => ids.Contains(t.HostId)).ToListAsync(cancellationToken)).ToLookup(r => r.HostId);
        var power = (await OpenPowerOrders.Apply(db, p => ids.Contains(p.HostId), now).Select(p => new { p.HostId, p.OrderJson, p.Signature })
                .ToListAsync(cancellationToken))
            .ToLookup(p => p.HostId, p => new SignedPowerOrder(p.OrderJson, p.Signature));
        return new ManyLooks(rows, power);
    }

    /// <summary>How many quiet hosts one renewal looks at in one pair of queries.</summary>
    private const int RenewalChunk = 500;

    /// <summary>
    /// Renews the hosts whose quiet answer ends within <paramref name="ahead"/> with one look at all of them (two queries per
    /// <see cref="RenewalChunk"/> hosts, not two per host): a host for which nothing changed is taken at its word for another
    /// <see cref="QuietFor"/>; one whose look now finds something (a servable target, a retry, a power order, or an open item
    /// gone) was changed by a writer whose signal never reached this node, and its poll is woken to look. A host signalled
    /// since its quiet look loses its quiet answer (its next poll looks anyway). Returns how many were renewed.
    /// </summary>
    /// <remarks>
    /// At 10,000 idle agents, each host's quiet time ending made a look of its own every 2 minutes, 80 looks a second
    /// spread out (a burst in the benchmark), about 1.7 points of a core by themselves; renewed together, a query pair a
    /// second. The manager renews every second (<c>Manager/QuietRenewal</c>).
    /// </remarks>
    public async Task<int> RenewQuietAsync(TimeSpan ahead, CancellationToken cancellationToken)
    {
        var due = new List<KeyValuePair<Guid, QuietHost>>();
        foreach (var entry in TakeQuietEnds(engine.Time.GetUtcNow() + ahead))
        {
            // The mark before the look, as a poll's look takes it: a signal during it is not lost. A host signalled since its
            // quiet look no longer has a quiet answer: its next poll looks.
            if (signals.Mark(entry.Key) == entry.Value.Mark)
            {
                due.Add(entry);
            }
            else
            {
                _quiet.TryRemove(entry);
            }
        }
        var renewed = 0;
        var looked = 0;
        try
        {
            foreach (var chunk in due.Chunk(RenewalChunk))
            {
                var ids = chunk.Select(e => e.Key).ToList();
                ManyLooks looks;
                await _looks.WaitAsync(cancellationToken);
                try
                {
                    await using var db = engine.Database.CreateContext();
                    await db.Database.OpenConnectionAsync(cancellationToken);
                    looks = await LookAtManyAsync(db, ids, engine.Now, cancellationToken);
                }
                finally
                {
                    _looks.Release();
                }
                looked += chunk.Length;
                var cutoff = RetryCutoff();
                var until = engine.Time.GetUtcNow() + QuietFor;
                var changed = new List<Guid>();
                foreach (var (hostId, quiet) in chunk)
                {
                    var look = LookOf([.. looks.Rows[hostId]], cutoff);
                    if (look.Quiet && !looks.Power.Contains(hostId) && look.Open.ToHashSet().SetEquals(quiet.Open))
                    {
                        if (_quiet.TryUpdate(hostId, quiet with { Until = until }, quiet))
                        {
                            BookQuietEnd(hostId, until);
                            renewed++;
                        }
                    }
                    else if (_quiet.TryRemove(new KeyValuePair<Guid, QuietHost>(hostId, quiet)))
                    {
                        changed.Add(hostId);
                    }
                }
                if (changed.Count > 0)
                {
                    signals.NotifyHere(changed);
                }
            }
        }
        finally
        {
            // A look that failed (or a stop) leaves its hosts and those after it booked as they were: the next turn takes them.
            foreach (var (hostId, quiet) in due.Skip(looked))
            {
                BookQuietEnd(hostId, quiet.Until);
            }
        }
        return renewed;
    }

    /// <summary>
    /// Signals the hosts a dispatch gave work, having first made their polls' answers for those whose poll waits on this
    /// node: one look for <see cref="RenewalChunk"/> hosts at a time (three queries, by the rules a poll's look and serving
    /// use), where each woken poll would make three queries of its own. Each chunk is signalled as soon as its answers are
    /// ready, so the first agents start while the rest are read; a poll that starts meanwhile looks itself. A host whose
    /// look finds no work to serve now, or a retry due, is signalled without an answer and its poll looks itself, as is
    /// every host after a look that fails.
    /// </summary>
    /// <remarks>
    /// At 10,000 agents the dispatch woke 10,000 polls at once, each with a look, the work's query and the power orders'
    /// query: the first seconds of a job at a whole core (docs/benchmarks.md).
    /// </remarks>
    private async Task<Exception?> SignalWithAnswersAsync(List<Guid> hosts, CancellationToken cancellationToken)
    {
        var waiting = hosts.Where(signals.Waits).Distinct().ToList();
        if (waiting.Count < hosts.Count)
        {
            signals.Notify(hosts.Except(waiting).ToList());
        }
        // The work is committed and these hosts' signal comes only once their answers are ready: until then a poll that
        // starts must not answer from what a quiet host's last look found, but look.
        signals.Stir(waiting);
        var signalled = 0;
        try
        {
            foreach (var chunk in waiting.Chunk(RenewalChunk))
            {
                var answers = await PrepareAnswersAsync(chunk, cancellationToken);
                // Each answer is kept for the mark this signal makes, and only if it is the next after the look's: a signal
                // in between may have announced what the look did not see.
                signals.Notify(chunk, (hostId, mark) =>
                {
                    if (answers.TryGetValue(hostId, out var prepared) && mark == (prepared.Looked.All, prepared.Looked.Host + 1))
                    {
                        _prepared[hostId] = new PreparedAnswer(mark, engine.Time.GetUtcNow() + PreparedFor, prepared.Answer);
                    }
                    else
                    {
                        _prepared.TryRemove(hostId, out _);
                    }
                });
                signalled += chunk.Length;
            }
            return null;
        }
        catch (Exception e) when (signalled < waiting.Count)
        {
            // What was not prepared is looked at by the polls themselves, as before: the signal is what must not be lost.
            signals.Notify(waiting.Skip(signalled).ToList());
            return e is OperationCanceledException && cancellationToken.IsCancellationRequested ? null : e;
        }
    }

    /// <summary>
    /// The answers of <paramref name="hostIds"/>' polls, from one look at all of them (see <see cref="SignalWithAnswersAsync"/>),
    /// each with its host's mark before the look (<c>Looked</c>); none for a host its poll must look at itself.
    /// </summary>
    private async Task<Dictionary<Guid, ((long All, long Host) Looked, ReadyAnswer Answer)>> PrepareAnswersAsync(IReadOnlyList<Guid> hostIds,
        CancellationToken cancellationToken)
    {
        var marks = hostIds.Select(signals.Mark).ToArray();
        var ids = hostIds.ToList();
        var now = engine.Now;
        var answers = new Dictionary<Guid, ((long All, long Host) Looked, ReadyAnswer Answer)>();
        await _looks.WaitAsync(cancellationToken);
        try
        {
            await using var db = engine.Database.CreateContext();
            await db.Database.OpenConnectionAsync(cancellationToken);
            var looks = await LookAtManyAsync(db, ids, now, cancellationToken);
            var served = (await ServedRows.Apply(db, t => ids.Contains(t.HostId), now).ToListAsync(cancellationToken)).ToLookup(r => r.HostId);
            var cutoff = RetryCutoff();
            var manifests = new ServedManifests(engine.SigningKeys.Current());
            await manifests.ReadAsync(db, served.SelectMany(rows => rows).Select(r => r.PackageId), cancellationToken);
            for (var i = 0; i < ids.Count; i++)
            {
                var hostId = ids[i];
                var look = LookOf([.. looks.Rows[hostId]], cutoff);
                var rows = served[hostId].ToList();
                if (!look.MayServe || look.RetryDue || rows.Count == 0)
                {
                    continue;
                }
                var items = await ItemsAsync(db, manifests, hostId, rows, cancellationToken);
                if (items.Count == 0)
                {
                    continue; // its packages went with their jobs since the rows were read: its poll looks itself
                }
                var orders = looks.Power[hostId].ToList();
                answers[hostId] = (marks[i], new ReadyAnswer(look, items, orders.Count > 0 ? orders : null));
            }
        }
        finally
        {
            _looks.Release();
        }
        return answers;
    }

    /// <summary>Drops the answers a dispatch prepared that no poll took within <see cref="PreparedFor"/> (the manager, once a second).</summary>
    public void DropUnclaimedAnswers()
    {
        var now = engine.Time.GetUtcNow();
        foreach (var (hostId, answer) in _prepared)
        {
            if (answer.Until <= now)
            {
                _prepared.TryRemove(new KeyValuePair<Guid, PreparedAnswer>(hostId, answer));
            }
        }
    }

    /// <summary>
    /// The work items of a host whose targets are in no final state (<see cref="WorkResponse.Open"/>): read after the items,
    /// so an item served in the same answer is listed too. An offer of a removed job, or of a canceled target, is not.
    /// </summary>
    public async Task<IReadOnlyList<Guid>> GetOpenAsync(Guid hostId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await OpenAsync(db, hostId, cancellationToken);
    }

    private static async Task<IReadOnlyList<Guid>> OpenAsync(DistDbContext db, Guid hostId, CancellationToken cancellationToken) =>
        await db.Targets.AsNoTracking().Where(t => t.HostId == hostId && !Hosts.HostService.FinalStatuses.Contains(t.Status))
            .Select(t => t.WorkItemId).ToListAsync(cancellationToken);

    /// <summary>The signed power orders of a host that its agent has not reported taking (null when none).</summary>
    public async Task<IReadOnlyList<SignedPowerOrder>?> GetPowerOrdersAsync(Guid hostId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        return await PowerOrdersAsync(db, hostId, cancellationToken);
    }

    private async Task<IReadOnlyList<SignedPowerOrder>?> PowerOrdersAsync(DistDbContext db, Guid hostId, CancellationToken cancellationToken)
    {
        List<SignedPowerOrder>? orders = null;
        await foreach (var order in PowerOrdersQuery(db, hostId, engine.Now).WithCancellation(cancellationToken))
        {
            (orders ??= []).Add(order);
        }
        return orders;
    }

    /// <summary>
    /// The open power orders (<see cref="Hosts.HostPower.Open"/>) of the hosts a predicate picks, oldest first: a poll's
    /// look reads its host's (<see cref="PowerOrdersQuery"/>), a look at many hosts theirs (<see cref="LookAtManyAsync"/>).
    /// </summary>
    private static readonly QueryRule<DistDbContext, Expression<Func<PowerOrderRow, bool>>, DateTime, IQueryable<PowerOrderRow>> OpenPowerOrders =
        new((db, hosts, now) => Hosts.HostPower.Open.Apply(db, now).Where(hosts).OrderBy(p => p.RequestedAt));

    /// <summary>A host's open power orders (<see cref="OpenPowerOrders"/>), compiled: every look reads them.</summary>
    private static readonly Func<DistDbContext, Guid, DateTime, IAsyncEnumerable<SignedPowerOrder>> PowerOrdersQuery = EF.CompileAsyncQuery(QueryRule.Inline(
        (DistDbContext db, Guid hostId, DateTime now) =>
            OpenPowerOrders.Apply(db, p => p.HostId == hostId, now).Select(p => new SignedPowerOrder(p.OrderJson, p.Signature))));

    /// <summary>
    /// The work of every host below a relay, for the relay to serve: what <see cref="GetWorkAsync"/> serves each host,
    /// plus suspended targets (listed so the relay can answer a report with Suspended), each manifest once, and every
    /// revoked credential (each relay drops them and refuses them from then on).
    /// </summary>
    public async Task<RelayWorkResponse> GetRelayWorkAsync(IReadOnlyCollection<Guid> hostIds, CancellationToken cancellationToken, Guid? relayId = null)
    {
        await using var db = engine.Database.CreateContext();
        // Every relay gets every revocation: a relay keeps the credentials of hosts that once registered through it, even
        // after they moved, and a revoked id is a few dozen bytes.
        var revoked = await db.RevokedCredentials.AsNoTracking().OrderBy(r => r.Id)
            .Select(r => new RevokedCredential(r.HostId, r.CredentialHash)).ToListAsync(cancellationToken);
        // Wake orders for this relay and the relays below it (a lower relay gets its own from this one's snapshot).
        var wakeNow = engine.Now;
        var wakeOrders = await db.WakeOrders.AsNoTracking()
            .Where(w => w.ExpiresAt > wakeNow && (w.RelayId == relayId || hostIds.Contains(w.RelayId))).OrderBy(w => w.CreatedAt)
            .Select(w => new SignedWakeOrder(w.OrderJson, w.Signature)).ToListAsync(cancellationToken);
        if (hostIds.Count == 0)
        {
            return RelayPoll.Snapshot([], new Dictionary<string, SignedManifest>(), engine.SigningKeys.Announcements(), revoked, wakeOrders);
        }
        var powerOrders = await Hosts.HostPower.Open.Apply(db, wakeNow).Where(p => hostIds.Contains(p.HostId)).OrderBy(p => p.RequestedAt)
            .Select(p => new SignedPowerOrder(p.OrderJson, p.Signature)).ToListAsync(cancellationToken);
        await RetryFailedAsync(db, hostIds, cancellationToken);
        var now = engine.Now;
        var key = engine.SigningKeys.Current();
        var rows = await (from t in db.Targets.AsNoTracking()
                          join j in db.Jobs on t.JobId equals j.Id
                          // Available: the relay is not to serve it, but must know its manifest to serve the content when the user installs it.
                          where hostIds.Contains(t.HostId) && (TargetStates.Servable.Contains(t.Status) || t.Status == TargetStatus.Suspended || t.Status == TargetStatus.Available)
                                && (t.Status != TargetStatus.Transferred || t.InstallAt == null || t.InstallAt <= now)
                          orderby t.QueuedAt
                          select new { t.Id, t.HostId, t.WorkItemId, Job = j.Name, t.Attempt, j.PackageId, t.JobSettingsJson, t.JobSettingsSignature, t.SettingsExpiresAt, t.SettingsSigningKey, t.Status })
            .ToListAsync(cancellationToken);
        var packages = new ServedManifests(key);
        await packages.ReadAsync(db, rows.Select(r => r.PackageId), cancellationToken);
        var manifests = new Dictionary<string, SignedManifest>();
        var items = new List<RelayWorkItem>(rows.Count);
        foreach (var r in rows)
        {
            if (packages.Of(r.PackageId) is not { } package)
            {
                continue;
            }
            var packageKey = r.PackageId.ToString(System.Globalization.CultureInfo.InvariantCulture);
            manifests.TryAdd(packageKey, new SignedManifest(package.Json, package.Signature));
            var (settings, signature) = await CurrentSettingsAsync(db, key, r.Id, r.WorkItemId, r.HostId, r.Job, package.Name, package.Version, package.Json,
                r.JobSettingsJson, r.JobSettingsSignature, r.SettingsExpiresAt, r.SettingsSigningKey, cancellationToken);
            items.Add(new RelayWorkItem(r.HostId, new WorkItem(r.WorkItemId, r.Job, r.Attempt, "", "", settings, signature),
                r.Status.ToString(), packageKey));
        }
        return RelayPoll.Snapshot(items, manifests, key.Announcements(now), revoked, wakeOrders, powerOrders);
    }

    /// <summary>
    /// Records a report by compare-and-set: the target moves only from a state the transition table allows,
    /// and only for the current ticket, so a duplicate or late report cannot move it backwards. <paramref name="servedBy"/>
    /// is the relay the host reported to, null when it reported to the manager itself: kept with the target (the status
    /// shows which node served it).
    /// </summary>
    public async Task<ReportResponse> ReportAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken, Guid? servedBy = null)
    {
        if (PowerReports.Is(report.Status))
        {
            // A power order's (or a -ShutdownAfter job's) progress: no target moves.
            await using var powerDb = engine.Database.CreateContext();
            return await Hosts.HostPower.ReportAsync(powerDb, hostId, report, engine.Now, cancellationToken)
                ?? throw new DistException("WorkItemNotFound", DistErrorKind.NotFound,
                    $"No power order or work item {report.WorkItemId} of this host is known here.", report.WorkItemId);
        }
        var to = TargetStates.ParseReported(report.Status);
        var storedUntil = to == TargetStatus.StoredOnRelay ? await StoredUntilAsync(hostId, report, cancellationToken) : null;
        if (to == TargetStatus.Available)
        {
            await CheckUserChoiceAsync(hostId, report, cancellationToken);
        }
        var from = TargetStates.Predecessors(to).ToList();
        if (!to.IsFinal())
        {
            from.Add(to); // progress within the same state
        }
        var response = await _writes.RunTogetherAsync(_reports, new ReportWrite(hostId, report.WorkItemId, to, from, engine.Now, report.BytesTransferred,
            report.SegmentsTransferred, servedBy, storedUntil, report.ExitCode, Truncate(report.Message, 2000), Truncate(report.OutputTail, 8000)));
        if (response.Accepted)
        {
            engine.TargetChanges.Notify();
        }
        if (response.Accepted && to == TargetStatus.Failed && report.ExitCode is { } exitCode)
        {
            await RetryLaterAsync(hostId, report.WorkItemId, exitCode, cancellationToken);
        }
        return response;
    }

    /// <summary>
    /// StoredOnRelay is reported by a relay for a target of a transfer-to-relay job only; the expiry recorded is the one
    /// its signed settings told the relay (the package's, when the settings carry none).
    /// </summary>
    private async Task<DateTime?> StoredUntilAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var target = await (from t in db.Targets.AsNoTracking()
                            join j in db.Jobs on t.JobId equals j.Id
                            join p in db.Packages on j.PackageId equals p.Id
                            where t.WorkItemId == report.WorkItemId && t.HostId == hostId
                            select new { j.Name, j.Type, t.JobSettingsJson, p.ExpiresAt }).FirstOrDefaultAsync(cancellationToken);
        if (target is null)
        {
            return null; // the compare-and-set finds nothing and says WorkItemNotFound
        }
        if (target.Type != JobType.TransferToRelay)
        {
            throw new DistException("ReportStatusInvalid", DistErrorKind.InvalidArgument,
                $"'{TargetStatus.StoredOnRelay}' is reported for transfer-to-relay jobs only; job '{target.Name}' is a {target.Type} job.", report.Status);
        }
        var settings = target.JobSettingsJson is null ? null : JsonSerializer.Deserialize<JobSettings>(target.JobSettingsJson, ProtocolJson.Options);
        return settings is not null ? settings.StoreUntil : target.ExpiresAt;
    }

    /// <summary>Available is reported for a target of a user-choice job only: any other job's package is not the user's to choose.</summary>
    private async Task CheckUserChoiceAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var target = await (from t in db.Targets.AsNoTracking()
                            join j in db.Jobs on t.JobId equals j.Id
                            where t.WorkItemId == report.WorkItemId && t.HostId == hostId
                            select new { j.Name, j.Type }).FirstOrDefaultAsync(cancellationToken);
        if (target is not null && target.Type != JobType.UserChoice)
        {
            throw new DistException("ReportStatusInvalid", DistErrorKind.InvalidArgument,
                $"'{TargetStatus.Available}' is reported for user-choice jobs only; job '{target.Name}' is a {target.Type} job.", report.Status);
        }
    }

    /// <summary>
    /// Writes hosts' last-seen times, all in one shared write: the manager notes them as requests come and writes them
    /// together once a second (<c>Server/Manager/LastSeenRecorder</c>). A time never moves back, nor past now (a relay
    /// names when it saw its clients), and is kept to the second, so the hosts seen in the same second are one statement
    /// (a statement for each host cost about 0.1 ms of CPU, a shared write for each about 0.5 ms). The number of hosts written.
    /// </summary>
    public Task<int> RecordLastSeenAsync(IReadOnlyCollection<KeyValuePair<Guid, DateTime>> seen, CancellationToken cancellationToken)
    {
        var now = engine.Now;
        var bySecond = seen
            .Select(s => (HostId: s.Key, At: ToSecond(s.Value.ToUniversalTime() > now ? now : s.Value.ToUniversalTime())))
            .GroupBy(s => s.At, s => s.HostId)
            .SelectMany(g => g.Chunk(LastSeenChunk).Select(ids => (At: g.Key, Ids: ids)))
            .ToList();
        return _writes.RunAsync(async db =>
        {
            var written = 0;
            foreach (var (at, ids) in bySecond)
            {
                written += await db.Hosts.Where(h => ids.Contains(h.Id) && h.LastSeen < at).ExecuteUpdateAsync(s => s.SetProperty(h => h.LastSeen, at), cancellationToken);
            }
            return written;
        });

        static DateTime ToSecond(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
    }

    /// <summary>The most hosts one last-seen statement names.</summary>
    private const int LastSeenChunk = 500;

    /// <summary>
    /// Announces (or refreshes) this manager in the database, with the pin of the certificate it serves HTTPS with (null
    /// for plain HTTP): what New-DistEnrollmentToken puts in tokens and what a session's nudge and stop are pinned to.
    /// </summary>
    public async Task HeartbeatAsync(string nodeId, string url, DateTime startedAt, string? certificatePin, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        var updated = await db.ManagerNodes.Where(m => m.NodeId == nodeId)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.HeartbeatAt, now).SetProperty(m => m.Url, url).SetProperty(m => m.CertificatePin, certificatePin), cancellationToken);
        if (updated == 0)
        {
            db.ManagerNodes.Add(new ManagerNodeRow
            {
                NodeId = nodeId, Url = url, ProcessId = Environment.ProcessId, MachineName = Environment.MachineName,
                StartedAt = startedAt, HeartbeatAt = now, CertificatePin = certificatePin,
            });
            await db.SaveChangesAsync(cancellationToken);
        }
    }

    /// <summary>Removes this manager's announcement on a clean stop, so status says at once that none runs.</summary>
    public async Task SignOffAsync(string nodeId, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        await db.ManagerNodes.Where(m => m.NodeId == nodeId).ExecuteDeleteAsync(cancellationToken);
    }

    private static string? Truncate(string? text, int max) =>
        text is null || text.Length <= max ? text : text[^max..];
}

/// <summary>
/// What a dispatch did: how many targets it queued, and why its hosts' polls had to look themselves when preparing their
/// answers failed (null when it did not; the hosts were signalled either way).
/// </summary>
public sealed record DispatchOutcome(int Queued, Exception? AnswersFailed);
