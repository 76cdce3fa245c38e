namespace JP1Dist.Server.Serving;

/// <summary>
/// Counts what a node refused, and says when a log line about it is due: at most one per interval, with how many were
/// refused since the last line. 10,000 agents refused at once make one line, not 10,000.
/// </summary>
internal sealed class LogTurns(TimeProvider time, TimeSpan every)
{
    private long _total;
    private long _sinceLine;
    private long _lastLine = long.MinValue;

    /// <summary>How many were counted since the node started.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Counts one; true, with the count since the last line (this one included), when a line is due.</summary>
    public bool Count(out long since)
    {
        Interlocked.Increment(ref _total);
        since = Interlocked.Increment(ref _sinceLine);
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastLine);
        if ((last == long.MinValue || time.GetElapsedTime(last, now) >= every) && Interlocked.CompareExchange(ref _lastLine, now, last) == last)
        {
            Interlocked.Add(ref _sinceLine, -since);
            return true;
        }
        return false;
    }
}
