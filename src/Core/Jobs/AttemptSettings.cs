using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Security;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Core.Jobs;

/// <summary>
/// Signed settings of one attempt: the JSON, its signature, the effective install time, when the signature stops being
/// accepted as new, and the fingerprint of the key that signed (stored with it, so serving knows to sign again after a rotation).
/// </summary>
public sealed record SignedAttempt(string Json, string Signature, DateTime? InstallAt, DateTime ExpiresAt, string KeyFingerprint);

/// <summary>
/// The signed settings of one attempt of one target: the effective install conditions (the job's over the package's),
/// the install time and the transfer pacing, bound to the attempt's ticket, the host, the job, and the package's name,
/// version and manifest hash, with an expiry (<see cref="SignedWork"/> is what the agent checks). A transfer-to-relay
/// attempt carries the job type and the package's expiry (StoreUntil) instead of conditions and an install time; a user-choice
/// attempt carries its job type and the package's expiry (StoreUntil: offered until then) beside the install settings. Every
/// place that gives a target a new ticket (execution, re-execution, automatic retry, an ID group member that joins
/// later) signs them here, and serving signs them again when their expiry nears (<see cref="Renew"/>).
/// </summary>
public sealed class AttemptSettings
{
    private readonly DistEngine _engine;
    private readonly JobSettings _template;
    private readonly CurrentSigningKey _key;

    private AttemptSettings(DistEngine engine, JobSettings template, CurrentSigningKey key)
    {
        _engine = engine;
        _template = template;
        _key = key;
    }

    /// <summary>
    /// The install conditions every attempt of <paramref name="job"/> on <paramref name="package"/> carries in its settings:
    /// the job's over the package's, null when there are none (and for a transfer to a relay, which installs nothing). A job's
    /// type and a job's or package's conditions never change once made, so this is what each target's signed settings say:
    /// the dispatch checks known facts against it once per job rather than reading each target's settings.
    /// </summary>
    public static InstallConditions? Conditions(JobRow job, PackageRow package)
    {
        if (job.Type == JobType.TransferToRelay)
        {
            return null;
        }
        var conditions = (PackageService.ReadConditions(package.InstallConditionsJson) ?? new InstallConditions())
            .Merge(PackageService.ReadConditions(job.InstallConditionsJson));
        return conditions.IsEmpty ? null : conditions;
    }

    /// <summary>The settings of <paramref name="job"/> on <paramref name="package"/>, ready to sign for any number of targets (the manifest is hashed once).</summary>
    public static AttemptSettings For(DistEngine engine, JobRow job, PackageRow package)
    {
        JobSettings template;
        if (job.Type == JobType.TransferToRelay)
        {
            // The relay stores the package until it expires and installs nothing: no conditions, no install time.
            template = new JobSettings(Guid.Empty, SegmentIntervalSeconds: job.SegmentIntervalSeconds, BandwidthLimitKBps: job.BandwidthLimitKBps,
                JobType: nameof(JobType.TransferToRelay), StoreUntil: package.ExpiresAt);
        }
        else
        {
            // A user-choice attempt carries its type: the agent offers the package to its user instead of installing it.
            template = new JobSettings(Guid.Empty, Conditions(job, package), job.InstallAt ?? package.InstallAt, job.SegmentIntervalSeconds, job.BandwidthLimitKBps,
                JobType: job.Type == JobType.UserChoice ? nameof(JobType.UserChoice) : null, RebootAfter: job.RebootAfter, ShutdownAfter: job.ShutdownAfter,
                StoreUntil: job.Type == JobType.UserChoice ? package.ExpiresAt : null, PreDownload: job.Type == JobType.UserChoice && job.PreDownload);
        }
        // The current key once for every target these settings are signed for.
        return new AttemptSettings(engine, template with
        {
            JobName = job.Name,
            PackageName = package.Name,
            PackageVersion = package.Version,
            ManifestSha256 = SignedWork.ManifestHash(package.ManifestJson),
            Description = job.Type == JobType.UserChoice ? package.Description : null,
        }, engine.SigningKeys.Current());
    }

    /// <summary>
    /// Signs the settings for one ticket of one host; with <paramref name="notBefore"/>, the install waits at least until
    /// then (an install that asked to be tried again later).
    /// </summary>
    public SignedAttempt Sign(Guid workItemId, Guid hostId, DateTime? notBefore = null) =>
        Seal(_key, _template with
        {
            WorkItemId = workItemId,
            HostId = hostId,
            ExpiresAt = _engine.Now + SignedWork.Lifetime,
            InstallAt = notBefore is { } later && !(_template.InstallAt > later) ? later : _template.InstallAt,
        });

    /// <summary>
    /// Signs the settings for many tickets, in their order, over every core: an execution for 10,000 hosts signs 10,000
    /// settings (an ECDSA signature and a JSON document each, about a third of a second on one core), and the first agent
    /// gets its work only once they are written. A signing key signs from several threads at once here as it does for the
    /// manager's concurrent requests.
    /// </summary>
    public SignedAttempt[] SignAll(IReadOnlyList<(Guid WorkItemId, Guid HostId)> tickets)
    {
        if (tickets.Count == 1)
        {
            // One host joining or one target: no workers to wake for it.
            return [Sign(tickets[0].WorkItemId, tickets[0].HostId)];
        }
        var signed = new SignedAttempt[tickets.Count];
        try
        {
            Parallel.For(0, tickets.Count, i => signed[i] = Sign(tickets[i].WorkItemId, tickets[i].HostId));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // The error one signature met, as a single signature would throw it.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
        return signed;
    }

    /// <summary>Signs settings for one ticket of one host: <see cref="For"/> then <see cref="Sign(Guid, Guid, DateTime?)"/>.</summary>
    public static SignedAttempt Sign(DistEngine engine, JobRow job, PackageRow package, Guid workItemId, Guid hostId) =>
        For(engine, job, package).Sign(workItemId, hostId);

    /// <summary>
    /// Stored settings signed again by <paramref name="key"/> (the current key) with a fresh expiry and bound to the target
    /// they belong to (settings stored before they were bound gain the binding here); null when the stored JSON cannot be read.
    /// </summary>
    public static SignedAttempt? Renew(DistEngine engine, CurrentSigningKey key, string settingsJson, Guid hostId, string jobName, string packageName, string packageVersion, string manifestJson)
    {
        JobSettings? stored;
        try
        {
            stored = JsonSerializer.Deserialize<JobSettings>(settingsJson, ProtocolJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
        return stored is null ? null : Seal(key, stored with
        {
            HostId = hostId,
            JobName = jobName,
            PackageName = packageName,
            PackageVersion = packageVersion,
            ManifestSha256 = SignedWork.ManifestHash(manifestJson),
            ExpiresAt = engine.Now + SignedWork.Lifetime,
        });
    }

    private static SignedAttempt Seal(CurrentSigningKey key, JobSettings settings)
    {
        var json = JsonSerializer.Serialize(settings, ProtocolJson.Options);
        return new SignedAttempt(json, key.Signer.Sign(json), settings.InstallAt, settings.ExpiresAt, key.Fingerprint);
    }
}
