using JP1Dist.Contracts;
using JP1Dist.Core;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>The counts kept by job (JobTargetCounts) against the targets counted afresh with a GROUP BY, read in one transaction.</summary>
public static class TargetCountCheck
{
    /// <summary>
    /// Every job has one count row per status, no row is of a job that is gone, and each count is what a fresh GROUP BY over
    /// the targets finds (0 where it finds none). Returns the fresh counts as "job status=n" lines for further asserts.
    /// </summary>
    public static async Task<IReadOnlyList<string>> AssertKeptCountsAreTheTargetsAsync(DistEngine engine, string when)
    {
        await using var db = engine.Database.CreateContext();
        // One snapshot for both reads (SQLite: BEGIN IMMEDIATE, so no writer commits in between; PostgreSQL: REPEATABLE
        // READ, where each statement of its default READ COMMITTED would see what committed meanwhile).
        await using var transaction = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        var jobs = await db.Jobs.AsNoTracking().ToDictionaryAsync(j => j.Id, j => j.Name);
        var kept = await db.JobTargetCounts.AsNoTracking().ToListAsync();
        var fresh = await db.Targets.AsNoTracking().GroupBy(t => new { t.JobId, t.Status })
            .Select(g => new { g.Key.JobId, g.Key.Status, Count = g.Count() }).ToListAsync();
        Assert.All(kept, k => Assert.True(jobs.ContainsKey(k.JobId), $"{when}: a count row of job {k.JobId}, which is gone"));
        var statuses = Enum.GetValues<TargetStatus>();
        var expected = jobs.SelectMany(j => statuses.Select(s => $"{j.Value} {s}={fresh.SingleOrDefault(f => f.JobId == j.Key && f.Status == s)?.Count ?? 0}")).Order().ToList();
        var actual = kept.Select(k => $"{jobs[k.JobId]} {k.Status}={k.Count}").Order().ToList();
        Assert.True(expected.SequenceEqual(actual),
            $"{when}: the kept counts differ from the targets.\nkept:   {string.Join(", ", actual.Except(expected))}\ntargets: {string.Join(", ", expected.Except(actual))}");
        return expected.Where(line => !line.EndsWith("=0", StringComparison.Ordinal)).ToList();
    }
}
