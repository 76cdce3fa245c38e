using System.IO.Enumeration;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Serving;

/// <summary>
/// How many client connections a node holds at once, and how many content files it serves at once. Each connection costs a
/// file descriptor, and so do the node's database connections, logs, content files and calls to its higher system: the
/// connection budget is the process's file-descriptor limit (raised to the hard limit at start where the system allows)
/// less <see cref="Reserve"/>, or what --max-connections says. A connection beyond it is closed at once (agents back off
/// with jitter and come back), counted (jp1dist_connections_shed_total) and logged, at most one line per
/// <see cref="LogEvery"/>, so the node never runs out of descriptors for its own work.
/// </summary>
/// <remarks>
/// The descriptors are accounted, not only the connections: every <see cref="SampleEvery"/> the node counts its open
/// descriptors (Linux: /proc/self/fd), and what is neither a held connection nor a content file being served (the
/// database's connections, which SQLite's pool keeps open after a burst, logs, listeners, outbound calls) counts against
/// the limit too. A new connection is admitted only while connections, content files and the rest leave
/// <see cref="Reserve"/> descriptors free; a content file is opened only while they leave half of it
/// (<see cref="TryOpenFile"/>; otherwise the request is answered 503 ContentBusy and the agent resumes later). So 10,000
/// agents downloading at once, each holding a socket and a file, cannot take the descriptors the database needs.
/// </remarks>
public sealed class ConnectionBudget : IDisposable
{
    /// <summary>Descriptors kept for the node's own work: database connections, log files, content files, outbound calls.</summary>
    public const int Reserve = 256;

    /// <summary>How often at most a line says connections were shed.</summary>
    public static readonly TimeSpan LogEvery = TimeSpan.FromSeconds(10);

    /// <summary>How often the node counts its open descriptors.</summary>
    public static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(1);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<int?> _countDescriptors;
    private readonly ITimer? _sampler;
    private int _open;
    private int _files;
    private int _other;
    private int _inUse = -1;
    private readonly LogTurns _shed;
    private readonly LogTurns _filesRefused;

    internal ConnectionBudget(int limit, long? descriptorLimit, ILogger logger, TimeProvider time, Func<int?>? countDescriptors)
    {
        Limit = limit;
        DescriptorLimit = descriptorLimit;
        _logger = logger;
        _time = time;
        _countDescriptors = countDescriptors ?? FileDescriptors.CountOpen;
        _shed = new LogTurns(time, LogEvery);
        _filesRefused = new LogTurns(time, LogEvery);
        if (descriptorLimit is not null)
        {
            Sample();
            _sampler = time.CreateTimer(_ => SampleWhenNeeded(), null, SampleEvery, SampleEvery);
        }
    }

    /// <summary>The most connections held at once.</summary>
    public int Limit { get; }

    /// <summary>The process's limit on open descriptors (null on Windows, which has none).</summary>
    public long? DescriptorLimit { get; }

    /// <summary>Connections held now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Connections closed unserved since the node started.</summary>
    public long Shed => _shed.Total;

    /// <summary>Content files being served now (<see cref="TryOpenFile"/>).</summary>
    public int FilesOpen => Volatile.Read(ref _files);

    /// <summary>Content requests answered 503 ContentBusy since the node started: too few descriptors left to open a file.</summary>
    public long FilesRefused => _filesRefused.Total;

    /// <summary>The descriptors open at the last count (null before one, or where they cannot be counted).</summary>
    public int? DescriptorsInUse => Volatile.Read(ref _inUse) is var n and >= 0 ? n : null;

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
        return new ConnectionBudget(limit, descriptors, logger, time ?? TimeProvider.System, null);
    }

    /// <summary>Takes a place for a new connection; false (counted, logged now and then) when none is left.</summary>
    public bool TryEnter(string? remote)
    {
        var open = Interlocked.Increment(ref _open);
        if (open <= Limit && !Short(Reserve))
        {
            return true;
        }
        Interlocked.Decrement(ref _open);
        if (_shed.Count(out var since))
        {
            if (open > Limit)
            {
                _logger.LogWarning("{Limit} connections are open, the most this node serves at once: closed {Count} new connection(s) since the last "
                    + "such line (the latest from {Remote}); their agents back off and come back (jp1dist_connections_shed_total)", Limit, since, remote ?? "?");
            }
            else
            {
                _logger.LogWarning("{InUse} of this process's {DescriptorLimit} files and sockets are in use ({Open} connections, {Files} content files, "
                    + "{Other} for the database and the rest), leaving fewer than the {Reserve} it keeps for its own work: closed {Count} new connection(s) "
                    + "since the last such line (the latest from {Remote}); their agents back off and come back (jp1dist_connections_shed_total)",
                    open - 1 + FilesOpen + Volatile.Read(ref _other), DescriptorLimit, open - 1, FilesOpen, Volatile.Read(ref _other), Reserve, since, remote ?? "?");
            }
        }
        return false;
    }

    /// <summary>Gives back the place of a connection that ended.</summary>
    public void Leave() => Interlocked.Decrement(ref _open);

    /// <summary>
    /// Takes a place for a content file to serve, held until the lease is disposed; null (counted, logged now and then) when
    /// opening one would leave less than half the reserve free: the caller answers 503 ContentBusy, and the agent resumes
    /// the transfer later.
    /// </summary>
    public IDisposable? TryOpenFile()
    {
        Interlocked.Increment(ref _files);
        if (!Short(Reserve / 2))
        {
            return new FileLease(this);
        }
        Interlocked.Decrement(ref _files);
        if (_filesRefused.Count(out var since))
        {
            _logger.LogWarning("Too few of this process's {DescriptorLimit} files and sockets are free to open content ({Open} connections, {Files} content files, "
                + "{Other} for the database and the rest): answered {Count} content request(s) 503 ContentBusy since the last such line; their agents resume later",
                DescriptorLimit, Open, FilesOpen, Volatile.Read(ref _other), since);
        }
        return null;
    }

    /// <summary>Whether connections, content files and the rest leave fewer than <paramref name="keep"/> descriptors free.</summary>
    private bool Short(int keep) =>
        DescriptorLimit is { } soft && (long)Volatile.Read(ref _open) + Volatile.Read(ref _files) + Volatile.Read(ref _other) > soft - keep;

    /// <summary>
    /// Counts the open descriptors: what is not a held connection or a content file is the rest (database, logs,
    /// listeners). The rest is the least of the last <see cref="SamplesKept"/> counts: a count taken while a burst of
    /// connections is being closed (shed, or ending) sees their sockets beside no connection, and would shed the next
    /// burst for nothing; what lasts (the database's pool after it grew) is counted within those seconds, and the reserve
    /// covers them.
    /// </summary>
    internal void Sample()
    {
        if (_countDescriptors() is not { } inUse)
        {
            return;
        }
        var rest = Math.Max(0, inUse - Open - FilesOpen);
        lock (_samples)
        {
            _samples[_nextSample] = rest;
            _nextSample = (_nextSample + 1) % SamplesKept;
            _sampled = Math.Min(_sampled + 1, SamplesKept);
            rest = _samples.Take(_sampled).Min();
        }
        Volatile.Write(ref _inUse, inUse);
        Volatile.Write(ref _other, rest);
    }

    /// <summary>
    /// Counts every <see cref="SampleEvery"/> while more than half the descriptors are in use, else every fifth time: the
    /// count reads one entry per descriptor, and far from the limit a few seconds more cannot exhaust it.
    /// </summary>
    private void SampleWhenNeeded()
    {
        if (++_ticks % 5 == 0 || DescriptorsInUse is not { } inUse || inUse * 2L > DescriptorLimit)
        {
            Sample();
        }
    }

    private int _ticks;

    /// <summary>How many counts the rest is the least of.</summary>
    internal const int SamplesKept = 3;

    private readonly int[] _samples = new int[SamplesKept];
    private int _nextSample;
    private int _sampled;

    public void Dispose() => _sampler?.Dispose();

    private sealed class FileLease(ConnectionBudget budget) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref budget._files);
            }
        }
    }

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

        [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
        private static extern int StatX(int directory, byte[] path, int flags, uint mask, [Out] byte[] buffer);

        /// <summary>
        /// The descriptors this process has open (Linux: /proc/self/fd; macOS and the BSDs: /dev/fd); null where they cannot
        /// be counted. On Linux 6.2 and later the folder's size is the count (one statx call); elsewhere its entries are
        /// counted, one per descriptor (about 10 ms and a stat of each at 10,000: a tenth of the idle manager's CPU).
        /// </summary>
        public static int? CountOpen()
        {
            var folder = OperatingSystem.IsLinux() ? "/proc/self/fd" : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? "/dev/fd" : null;
            if (folder is null)
            {
                return null;
            }
            if (OperatingSystem.IsLinux() && SizeOf(folder) is > 0 and var size)
            {
                return (int)size;
            }
            try
            {
                // No name is made for an entry: with 10,000 connections the folder has 10,000 of them every second.
                var count = 0;
                foreach (var _ in new FileSystemEnumerable<byte>(folder, static (ref FileSystemEntry _) => 0,
                    new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = true, RecurseSubdirectories = false }))
                {
                    count++;
                }
                return Math.Max(0, count - 1); // less the descriptor that reads the folder
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }

        /// <summary>A path's size by statx (struct statx is the same on every architecture: stx_size at byte 40); null when the call fails.</summary>
        private static long? SizeOf(string path)
        {
            const int currentDirectory = -100; // AT_FDCWD
            const uint sizeField = 0x200; // STATX_SIZE
            try
            {
                var buffer = new byte[256];
                if (StatX(currentDirectory, System.Text.Encoding.UTF8.GetBytes(path + "\0"), 0, sizeField, buffer) != 0 || (BitConverter.ToUInt32(buffer, 0) & sizeField) == 0)
                {
                    return null;
                }
                return BitConverter.ToInt64(buffer, 40);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return null;
            }
        }

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
