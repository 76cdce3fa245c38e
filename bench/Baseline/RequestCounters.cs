namespace JP1Dist.Bench.Baseline;

/// <summary>What the simulated agents asked of the manager in one phase, counted from the client side; thread-safe.</summary>
public sealed class RequestCounters
{
    private long _registers;
    private long _polls;
    private long _emptyPolls;
    private long _contents;
    private long _reports;
    private long _reportsNotAccepted;
    private long _retries;

    public long Registers => Interlocked.Read(ref _registers);
    public long Polls => Interlocked.Read(ref _polls);
    public long EmptyPolls => Interlocked.Read(ref _emptyPolls);
    public long Contents => Interlocked.Read(ref _contents);
    public long Reports => Interlocked.Read(ref _reports);
    public long ReportsNotAccepted => Interlocked.Read(ref _reportsNotAccepted);
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Every request made, whatever its kind, failed attempts that were retried included.</summary>
    public long Total => Registers + Polls + Contents + Reports + Retries;

    public void Register() => Interlocked.Increment(ref _registers);
    public void Poll(bool empty)
    {
        Interlocked.Increment(ref _polls);
        if (empty)
        {
            Interlocked.Increment(ref _emptyPolls);
        }
    }
    public void Content() => Interlocked.Increment(ref _contents);
    public void Report(bool accepted)
    {
        Interlocked.Increment(ref _reports);
        if (!accepted)
        {
            Interlocked.Increment(ref _reportsNotAccepted);
        }
    }
    public void Retry() => Interlocked.Increment(ref _retries);
}
