using System.Diagnostics;

namespace JP1Dist.Agent;

/// <summary>
/// Reads one file's segments in order from a single open range response, opening a new one (from the segment asked
/// for) when none is open, when the caller jumps, or after a failure. Each read counts against the transfer's cap.
/// </summary>
public sealed class SegmentReader(HigherSystemClient client, string sha256, TransferThrottle throttle) : IDisposable
{
    private const int ThrottledRead = 16 * 1024;
    private HttpResponseMessage? _response;
    private Stream? _body;
    private long _position = -1;

    /// <summary>Fills <paramref name="segment"/> with the bytes at <paramref name="offset"/>; on any failure the response is closed.</summary>
    public async Task ReadAsync(long offset, Memory<byte> segment, CancellationToken cancellationToken)
    {
        if (_body is null || _position != offset)
        {
            Close();
            (_response, _body) = await client.OpenRangeAsync(sha256, offset, cancellationToken);
            _position = offset;
        }
        try
        {
            var filled = 0;
            while (filled < segment.Length)
            {
                var room = segment[filled..];
                if (throttle.IsLimited && room.Length > ThrottledRead)
                {
                    room = room[..ThrottledRead];
                }
                var read = await client.ReadContentAsync(_response!, _body, room, cancellationToken);
                if (read == 0)
                {
                    throw new IOException($"The higher system ended {sha256} at offset {offset + filled}, before the segment's {segment.Length} bytes.");
                }
                filled += read;
                await throttle.AccountAsync(read, cancellationToken);
            }
            _position += segment.Length;
        }
        catch
        {
            Close();
            throw;
        }
    }

    /// <summary>Drops the open response (a corrupted segment is then fetched again by a new request).</summary>
    public void Close()
    {
        _body?.Dispose();
        _response?.Dispose();
        _body = null;
        _response = null;
        _position = -1;
    }

    public void Dispose() => Close();
}

/// <summary>Caps the bytes per second of one transfer; a pause between segments does not become credit for a burst.</summary>
public sealed class TransferThrottle(long bytesPerSecond)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _bytes;

    /// <summary>True when a cap is set.</summary>
    public bool IsLimited => bytesPerSecond > 0;

    /// <summary>Counts bytes received and waits as long as the transfer is ahead of the cap.</summary>
    public async ValueTask AccountAsync(int bytes, CancellationToken cancellationToken)
    {
        if (bytesPerSecond <= 0)
        {
            return;
        }
        _bytes += bytes;
        var ahead = TimeSpan.FromSeconds((double)_bytes / bytesPerSecond) - _clock.Elapsed;
        if (ahead > TimeSpan.FromMilliseconds(1))
        {
            await Task.Delay(ahead, cancellationToken);
        }
    }

    /// <summary>Starts counting afresh (after a pause between segments).</summary>
    public void Restart()
    {
        _bytes = 0;
        _clock.Restart();
    }
}
