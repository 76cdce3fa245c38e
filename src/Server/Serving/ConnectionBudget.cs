using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Serving;

/// <summary>
/// How many client connections a node holds at once. Each costs a file descriptor, and so do the node's database, logs,
/// content files and calls to its higher system: the budget is the process's file-descriptor limit (raised to the hard
/// limit at start where the system allows) less <see cref="Reserve"/>, or what --max-connections says. A connection beyond
/// it is closed at once (agents back off with jitter and come back), counted (jp1dist_connections_shed_total) and logged,
/// at most one line per <see cref="LogEvery"/>, so the node never runs out of descriptors for its own work.
/// </summary>
public sealed class ConnectionBudget
{
    /// <summary>Descriptors kept for the node's own work: database connections, log files, content files, outbound calls.</summary>
    public const int Reserve = 256;

    /// <summary>How often at most a line says connections were shed.</summary>
    public static readonly TimeSpan LogEvery = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private int _open;
    private long _shed;
    private long _shedSinceLog;
    private long _lastLog = long.MinValue;

    private ConnectionBudget(int limit, ILogger logger, TimeProvider time)
    {
        Limit = limit;
        _logger = logger;
        _time = time;
    }

    /// <summary>The most connections held at once.</summary>
    public int Limit { get; }

    /// <summary>Connections held now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Connections closed unserved since the node started.</summary>
    public long Shed => Interlocked.Read(ref _shed);

    /// <summary>
    /// The budget of this process: <paramref name="configured"/> when given, else the file-descriptor limit (raised first)
    /// less the reserve; on Windows, which has no such limit, only what is configured.
    /// </summary>
    public static ConnectionBudget Create(int? configured, ILogger logger, TimeProvider? time = null)
    {
        var descriptors = FileDescriptors.RaiseSoftLimit(logger);
        int limit;
        if (configured is { } given)
        {
            limit = given;
        }
        else if (descriptors is { } soft)
        {
            limit = (int)Math.Clamp(soft - Reserve, 16, int.MaxValue);
            if (soft < 8192)
            {
                logger.LogWarning("This process may open only {Limit} files and sockets, so this node serves at most {Connections} connections at once; "
                    + "raise the limit (LimitNOFILE=65536 in the systemd unit, or ulimit -n) for more agents (docs/operations.md)", soft, limit);
            }
        }
        else
        {
            limit = int.MaxValue;
        }
        if (limit != int.MaxValue)
        {
            logger.LogInformation("Serving at most {Limit} connections at once; more are closed and their agents come back later", limit);
        }
        return new ConnectionBudget(limit, logger, time ?? TimeProvider.System);
    }

    /// <summary>Takes a place for a new connection; false (counted, logged now and then) when none is left.</summary>
    public bool TryEnter(string? remote)
    {
        if (Interlocked.Increment(ref _open) <= Limit)
        {
            return true;
        }
        Interlocked.Decrement(ref _open);
        Interlocked.Increment(ref _shed);
        var since = Interlocked.Increment(ref _shedSinceLog);
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastLog);
        if ((last == long.MinValue || _time.GetElapsedTime(last, now) >= LogEvery) && Interlocked.CompareExchange(ref _lastLog, now, last) == last)
        {
            Interlocked.Add(ref _shedSinceLog, -since);
            _logger.LogWarning("{Limit} connections are open, the most this node serves at once: closed {Count} new connection(s) since the last "
                + "such line (the latest from {Remote}); their agents back off and come back (jp1dist_connections_shed_total)", Limit, since, remote ?? "?");
        }
        return false;
    }

    /// <summary>Gives back the place of a connection that ended.</summary>
    public void Leave() => Interlocked.Decrement(ref _open);

    /// <summary>
    /// The process's limit on open files and sockets (RLIMIT_NOFILE), where the system has one. Public so that other
    /// processes that hold many connections (the benchmarks' simulated agents) raise it the same way.
    /// </summary>
    public static class FileDescriptors
    {
        private const long Ceiling = 1 << 20;

        [StructLayout(LayoutKind.Sequential)]
        private struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
        private static extern int GetRLimit(int resource, out RLimit limit);

        [DllImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
        private static extern int SetRLimit(int resource, ref RLimit limit);

        private static int NoFile => OperatingSystem.IsLinux() ? 7 : 8; // RLIMIT_NOFILE: 7 on Linux, 8 on macOS and the BSDs

        /// <summary>Raises the soft limit to the hard one (at most 2^20) and returns the soft limit in force; null on Windows or when unreadable.</summary>
        public static long? RaiseSoftLimit(ILogger logger)
        {
            if (OperatingSystem.IsWindows() || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()))
            {
                return null;
            }
            try
            {
                if (GetRLimit(NoFile, out var limit) != 0)
                {
                    return null;
                }
                var wanted = Math.Min(limit.Maximum, (ulong)Ceiling);
                if (limit.Current < wanted)
                {
                    var raised = limit with { Current = wanted };
                    if (SetRLimit(NoFile, ref raised) == 0)
                    {
                        logger.LogInformation("Raised this process's limit on open files and sockets from {From} to {To} (its hard limit)", limit.Current, wanted);
                        return (long)wanted;
                    }
                    logger.LogWarning("Could not raise this process's limit on open files and sockets from {From} to {To} (error {Error})",
                        limit.Current, wanted, Marshal.GetLastPInvokeError());
                }
                return (long)Math.Min(limit.Current, (ulong)Ceiling);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return null;
            }
        }
    }
}
