using JP1Dist.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace JP1Dist.Agent;

/// <summary>
/// Fetches one file's segments into its partial file, for agent downloads and a relay's cache alike.
/// <para>
/// The caller's task receives segment after segment from one range response. Each received segment is checked
/// against its SHA-256 from the signed manifest on the thread pool and written at its offset, one write at a time and
/// in order (concurrent writes to one file only contend for its lock), so the next segment arrives while the last ones
/// are checked and written: up to <see cref="Depth"/> segments are in memory at once. Where the system offers it, the
/// writes bypass the page cache (<see cref="UnbufferedWrites"/>).
/// <see cref="Confirmed"/> counts the segments from the start of the file that are checked and on disk, which is what
/// a caller records as progress. A segment that fails its check is fetched again by a new request (the segments
/// received after it too), up to a number of attempts. A write this computer refuses (a full disk, a denied path) ends
/// the fetch with a <see cref="LocalFaultException"/> naming the partial file; the caller decides what becomes of the file.
/// </para>
/// </summary>
public sealed class SegmentFetch : IAsyncDisposable
{
    /// <summary>Segments in memory at once: one being received, the others being checked or written.</summary>
    public const int Depth = 3;

    private readonly SafeFileHandle _output;
    private readonly string _path;
    private readonly ManifestFile _file;
    private readonly long _segmentSize;
    private readonly Memory<byte>[] _buffers;
    private readonly Task<bool>[] _checks;
    private Task _lastWrite = Task.CompletedTask;
    private volatile bool _unbuffered;
    private readonly int[] _indexes;
    private int _oldest;
    private int _inFlight;

    private SegmentFetch(SafeFileHandle output, string path, ManifestFile file, long segmentSize, int confirmed)
    {
        _output = output;
        _path = path;
        _file = file;
        _segmentSize = segmentSize;
        Confirmed = confirmed;
        // A small file, or the tail of a resumed one, needs fewer and smaller buffers than the segment size allows.
        var count = Math.Clamp(file.Segments.Count - confirmed, 1, Depth);
        var size = (int)Math.Min(segmentSize, file.Size);
        _buffers = Enumerable.Range(0, count).Select(_ => UnbufferedWrites.AlignedBuffer(size)).ToArray();
        _checks = new Task<bool>[count];
        _indexes = new int[count];
        // Every offset is a multiple of the segment size; a segment size that is not aligned keeps ordinary writes.
        _unbuffered = segmentSize % UnbufferedWrites.Alignment == 0 && file.Segments.Count > confirmed && UnbufferedWrites.TryEnable(output);
    }

    /// <summary>Segments from the start of the file that are checked against their hashes and written.</summary>
    public int Confirmed { get; private set; }

    /// <summary>
    /// Opens (or creates) the partial file at <paramref name="partialPath"/> and checks every whole segment an earlier
    /// run wrote against its hash: <see cref="Confirmed"/> is then how many in a row match, and the fetch goes on from
    /// there.
    /// </summary>
    public static async Task<SegmentFetch> OpenAsync(string partialPath, ManifestFile file, long segmentSize, CancellationToken cancellationToken)
    {
        var output = LocalFault.Guard(partialPath, "opening",
            () => File.OpenHandle(partialPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        try
        {
            var verified = await SegmentHashes.VerifiedPrefixAsync(output, file, segmentSize, cancellationToken);
            return new SegmentFetch(output, partialPath, file, segmentSize, verified);
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Fetches every segment after <see cref="Confirmed"/> with <paramref name="reader"/>, each read made through
    /// <paramref name="call"/> (the caller's retries of an unreachable higher system). <paramref name="afterEach"/> runs
    /// after each segment is received, with the number received so far, and stops the fetch by returning false.
    /// Returns true when every segment is confirmed and the file has its full length; false when stopped.
    /// </summary>
    public async Task<bool> RunAsync(SegmentReader reader, Func<Func<Task>, Task> call, Func<int, Task<bool>> afterEach,
        int attempts, ILogger logger, string label, CancellationToken cancellationToken)
    {
        var failures = new Dictionary<int, int>();
        var index = Confirmed;
        while (true)
        {
            try
            {
                if (index == _file.Segments.Count)
                {
                    await DrainAsync();
                    LocalFault.Guard(_path, "writing", () => RandomAccess.SetLength(_output, _file.Size));
                    return true;
                }
                var offset = index * _segmentSize;
                var segment = (await FreeBufferAsync())[..(int)Math.Min(_segmentSize, _file.Size - offset)];
                await call(() => reader.ReadAsync(offset, segment, cancellationToken));
                Queue(index, offset, segment);
                index++;
                if (!await afterEach(index))
                {
                    await StopAsync();
                    return false;
                }
            }
            catch (SegmentMismatchException mismatch)
            {
                reader.Close(); // fetched again by a new request from this segment
                var attempt = failures[mismatch.Index] = failures.GetValueOrDefault(mismatch.Index) + 1;
                logger.LogWarning("Segment {Index} of {File} failed its hash check (attempt {Attempt})", mismatch.Index, label, attempt);
                if (attempt >= attempts)
                {
                    throw new ContentVerificationException($"Segment {mismatch.Index} of '{label}' failed its SHA-256 check {attempt} times.");
                }
                index = mismatch.Index;
            }
        }
    }

    /// <summary>
    /// Waits until every received segment is checked and written, so that <see cref="Confirmed"/> covers all of them
    /// (before a report whose answer may stop the transfer). Only callable from <c>afterEach</c>: a segment that failed
    /// its check makes the fetch go back to it.
    /// </summary>
    public async Task DrainAsync()
    {
        while (_inFlight > 0)
        {
            await CompleteOldestAsync();
        }
    }

    /// <summary>Lets the segments in flight finish, counting those that pass; a failed one is fetched on a later run.</summary>
    private async Task StopAsync()
    {
        try
        {
            await DrainAsync();
        }
        catch (SegmentMismatchException)
        {
        }
    }

    private async Task<Memory<byte>> FreeBufferAsync()
    {
        if (_inFlight == _buffers.Length)
        {
            await CompleteOldestAsync();
        }
        return _buffers[(_oldest + _inFlight) % _buffers.Length];
    }

    private void Queue(int index, long offset, ReadOnlyMemory<byte> segment)
    {
        var slot = (_oldest + _inFlight) % _buffers.Length;
        var expected = _file.Segments[index];
        _indexes[slot] = index;
        var previous = _lastWrite;
        var check = Task.Run(async () =>
        {
            var matched = SegmentHashes.Matches(segment.Span, expected);
            try
            {
                await previous; // one write at a time, in order
            }
            catch
            {
                // Its failure is thrown to the caller with that segment.
            }
            if (matched)
            {
                Write(segment.Span, offset);
            }
            return matched;
        });
        _checks[slot] = check;
        _lastWrite = check;
        _inFlight++;
    }

    /// <summary>Writes a checked segment at its offset; a refused write is a <see cref="LocalFaultException"/> with the bytes this file still needs.</summary>
    private void Write(ReadOnlySpan<byte> segment, long offset)
    {
        try
        {
            WriteAt(segment, offset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LocalFaultException(LocalFault.Classify(e, _path, "writing").WithNeeded(_file.Size - offset), e);
        }
    }

    private void WriteAt(ReadOnlySpan<byte> segment, long offset)
    {
        if (_unbuffered && segment.Length % UnbufferedWrites.Alignment != 0)
        {
            // The file's last, shorter segment: unbuffered writes take whole blocks only.
            UnbufferedWrites.TryDisable(_output);
            _unbuffered = false;
        }
        if (_unbuffered)
        {
            try
            {
                RandomAccess.Write(_output, segment, offset);
                return;
            }
            catch (IOException e) when (!LocalFault.IsDiskFull(e))
            {
                // Refused by this file system after all: the same write, through the page cache.
                UnbufferedWrites.TryDisable(_output);
                _unbuffered = false;
            }
        }
        RandomAccess.Write(_output, segment, offset);
    }

    private async Task CompleteOldestAsync()
    {
        var check = _checks[_oldest];
        var index = _indexes[_oldest];
        _oldest = (_oldest + 1) % _buffers.Length;
        _inFlight--;
        bool matched;
        try
        {
            matched = await check;
        }
        catch
        {
            await DiscardInFlightAsync(); // a failed write: the others finish before the file is closed
            throw;
        }
        if (!matched)
        {
            await DiscardInFlightAsync(); // the segments after it are fetched again with it
            throw new SegmentMismatchException(index);
        }
        Confirmed = index + 1;
    }

    /// <summary>Lets the segments in flight finish without counting them.</summary>
    private async Task DiscardInFlightAsync()
    {
        while (_inFlight > 0)
        {
            var check = _checks[_oldest];
            _oldest = (_oldest + 1) % _buffers.Length;
            _inFlight--;
            try
            {
                await check;
            }
            catch
            {
                // Not counted; the first failure was already thrown, or the fetch is stopping.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DiscardInFlightAsync();
        _output.Dispose();
    }

    private sealed class SegmentMismatchException(int index) : Exception($"Segment {index} failed its hash check.")
    {
        public int Index { get; } = index;
    }
}
