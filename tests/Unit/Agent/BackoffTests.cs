using JP1Dist.Agent;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>Full jitter: waits spread over the whole ceiling, the ceiling doubles to its cap, and a success starts over.</summary>
public sealed class BackoffTests
{
    [Fact]
    public void Each_wait_is_drawn_below_a_ceiling_that_doubles_up_to_the_cap()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), new Random(7));
        var ceilings = new List<double>();
        for (var i = 0; i < 10; i++)
        {
            var ceiling = backoff.Ceiling;
            var wait = backoff.Next();
            Assert.InRange(wait, Backoff.Floor, ceiling);
            ceilings.Add(ceiling.TotalSeconds);
        }
        Assert.Equal([1, 2, 4, 8, 16, 30, 30, 30, 30, 30], ceilings);
        backoff.Reset();
        Assert.Equal(TimeSpan.FromSeconds(1), backoff.Ceiling);
    }

    [Fact]
    public void Agents_cut_off_together_come_back_spread_over_the_ceiling()
    {
        // 1,000 agents at their fifth failure (ceiling 16 s): their waits cover the range, not one instant.
        var random = new Random(11);
        var waits = Enumerable.Range(0, 1000).Select(_ =>
        {
            var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), random);
            for (var i = 0; i < 4; i++)
            {
                backoff.Next();
            }
            return backoff.Next().TotalSeconds;
        }).ToList();
        var buckets = waits.GroupBy(w => (int)(w / 2)).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(8, buckets.Count); // every 2-second slice of 0-16 s holds some
        Assert.All(buckets.Values, count => Assert.InRange(count, 60, 200)); // and none holds the crowd
    }
}
