namespace JP1Dist.Protocol;

/// <summary>
/// Exponential back-off with full jitter: each wait is drawn at random between a small floor and a ceiling that doubles
/// from <c>first</c> up to <c>cap</c>. Thousands of agents cut off by one outage then come back spread over the whole
/// ceiling instead of at the same seconds (the thundering herd a plain doubling makes).
/// </summary>
public sealed class Backoff
{
    /// <summary>The shortest wait: a retry never spins.</summary>
    public static readonly TimeSpan Floor = TimeSpan.FromMilliseconds(100);

    private readonly TimeSpan _first;
    private readonly TimeSpan _cap;
    private readonly Random _random;
    private TimeSpan _ceiling;

    public Backoff(TimeSpan first, TimeSpan cap, Random? random = null)
    {
        _first = _ceiling = first;
        _cap = cap;
        _random = random ?? Random.Shared;
    }

    /// <summary>The longest the next wait can be.</summary>
    public TimeSpan Ceiling => _ceiling;

    /// <summary>The next wait (between <see cref="Floor"/> and the ceiling), and doubles the ceiling up to the cap.</summary>
    public TimeSpan Next()
    {
        var wait = TimeSpan.FromTicks(Math.Max(Floor.Ticks, (long)(_random.NextDouble() * _ceiling.Ticks)));
        _ceiling = TimeSpan.FromTicks(Math.Min(_cap.Ticks, _ceiling.Ticks * 2));
        return wait;
    }

    /// <summary>After a success: the next failure waits little again.</summary>
    public void Reset() => _ceiling = _first;
}
