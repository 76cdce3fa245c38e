namespace JP1Dist.Protocol;

/// <summary>
/// The body of an answer can be longer than the reader allows: it was cut off at the limit, and nothing of it is used.
/// An <see cref="IOException"/>, so a caller treats it like any answer it could not read (tries again later).
/// </summary>
public sealed class AnswerTooLargeException(string what, long limit)
    : IOException($"The higher system's answer to {what} is larger than {limit:N0} bytes (ProtocolLimits); it was not read.")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// Reads another stream up to a number of bytes and throws <see cref="AnswerTooLargeException"/> beyond it: what a node
/// reads from the network into memory is bounded, whatever the other end sends.
/// </summary>
public sealed class LimitedReadStream(Stream inner, long limit, string what) : Stream
{
    private long _read;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, Allow(count)));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer[..Allow(buffer.Length)], cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // One byte past the limit is asked for, so that a body of exactly the limit reads and a longer one is caught.
    private int Allow(int count) => (int)Math.Min(count, limit - _read + 1);

    private int Count(int read)
    {
        _read += read;
        return _read > limit ? throw new AnswerTooLargeException(what, limit) : read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
