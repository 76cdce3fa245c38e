using System.Text.Json;
using JP1Dist.Engine.Packaging;
using JP1Dist.Engine.Protocol;
using JP1Dist.Engine.Storage;

namespace JP1Dist.Engine.Jobs;

/// <summary>
/// The signed settings of one attempt of one target: the effective install conditions (the job's over the
/// package's), the install time, and the transfer pacing, bound to the attempt's ticket so that a relay can neither
/// alter them nor move them to another work item. Every place that gives a target a new ticket (execution,
/// re-execution, automatic retry, an ID group member that joins later) signs them here.
/// </summary>
public static class AttemptSettings
{
    /// <summary>The settings JSON, its signature, and the effective install time (UTC) for a new ticket.</summary>
    public static (string Json, string Signature, DateTime? InstallAt) Sign(DistEngine engine, JobRow job, PackageRow package, Guid workItemId)
    {
        var conditions = (PackageService.ReadConditions(package.InstallConditionsJson) ?? new InstallConditions())
            .Merge(PackageService.ReadConditions(job.InstallConditionsJson));
        var installAt = job.InstallAt ?? package.InstallAt;
        var settings = new JobSettings(workItemId, conditions.IsEmpty ? null : conditions, installAt, job.SegmentIntervalSeconds, job.BandwidthLimitKBps);
        var json = JsonSerializer.Serialize(settings, ProtocolJson.Options);
        return (json, engine.Signer.Sign(json), installAt);
    }
}
