using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Jobs;

/// <summary>
/// The signed settings of one attempt of one target: the effective install conditions (the job's over the
/// package's), the install time, and the transfer pacing, bound to the attempt's ticket so that a relay can neither
/// alter them nor move them to another work item. A transfer-to-relay attempt carries the job type and the package's
/// expiry (StoreUntil) instead of conditions and an install time. Every place that gives a target a new ticket (execution,
/// re-execution, automatic retry, an ID group member that joins later) signs them here.
/// </summary>
public static class AttemptSettings
{
    /// <summary>The settings JSON, its signature, and the effective install time (UTC) for a new ticket.</summary>
    public static (string Json, string Signature, DateTime? InstallAt) Sign(DistEngine engine, JobRow job, PackageRow package, Guid workItemId)
    {
        if (job.Type == JobType.TransferToRelay)
        {
            // The relay stores the package until it expires and installs nothing: no conditions, no install time.
            var transfer = new JobSettings(workItemId, SegmentIntervalSeconds: job.SegmentIntervalSeconds, BandwidthLimitKBps: job.BandwidthLimitKBps,
                JobType: nameof(JobType.TransferToRelay), StoreUntil: package.ExpiresAt);
            var transferJson = JsonSerializer.Serialize(transfer, ProtocolJson.Options);
            return (transferJson, engine.Signer.Sign(transferJson), null);
        }
        var conditions = (PackageService.ReadConditions(package.InstallConditionsJson) ?? new InstallConditions())
            .Merge(PackageService.ReadConditions(job.InstallConditionsJson));
        var installAt = job.InstallAt ?? package.InstallAt;
        var settings = new JobSettings(workItemId, conditions.IsEmpty ? null : conditions, installAt, job.SegmentIntervalSeconds, job.BandwidthLimitKBps);
        var json = JsonSerializer.Serialize(settings, ProtocolJson.Options);
        return (json, engine.Signer.Sign(json), installAt);
    }
}
