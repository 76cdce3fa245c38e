namespace JP1Dist.Core.Storage;

/// <summary>
/// The precision of every time the engine stores: whole microseconds, in UTC. PostgreSQL keeps no finer, so SQLite is
/// held to the same and a time reads back the same on both; a time given finer (a .NET DateTime has 100 ns ticks) is
/// cut to the microsecond when it is saved, in the saved object too, so what a cmdlet returns equals what it reads later.
/// </summary>
public static class StoredTime
{
    /// <summary><paramref name="time"/> in UTC, cut to the whole microsecond.</summary>
    public static DateTime Of(DateTime time)
    {
        var utc = time.Kind == DateTimeKind.Utc ? time : time.ToUniversalTime();
        return new DateTime(utc.Ticks - utc.Ticks % TimeSpan.TicksPerMicrosecond, DateTimeKind.Utc);
    }

    /// <summary>The same for an optional time.</summary>
    public static DateTime? Of(DateTime? time) => time is { } value ? Of(value) : null;
}
