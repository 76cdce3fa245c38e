using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace JP1Dist.Server.Serving;

/// <summary>
/// Runs a result with the response body counted as it is written, so a metric adds the bytes that went out, not the
/// length the response announced: a transfer the client cut short counts only what was written before the cut (at most
/// what the server's output buffer held beyond what reached the client). Once the connection is gone, Kestrel takes writes
/// and drops them: a write begun after the request's abort token fired is not counted, or a cut transfer whose rest is
/// copied from the page cache fast enough counted as whole. (A write begun before counts even when the abort comes while it
/// waits: the client of a whole transfer closes only after the last write went out.)
/// </summary>
internal static class CountedResponseBody
{
    public static async Task ExecuteAsync(HttpContext context, IResult result, Action<long> written)
    {
        var original = context.Features.Get<IHttpResponseBodyFeature>()!;
        var counted = new StreamResponseBodyFeature(new CountingStream(original.Stream, written, context.RequestAborted), original);
        context.Features.Set<IHttpResponseBodyFeature>(counted);
        try
        {
            await result.ExecuteAsync(context);
            await counted.CompleteAsync();
        }
        finally
        {
            context.Features.Set(original);
        }
    }

    /// <summary>A write-only stream that reports each write's length once the inner stream has taken it, for writes begun while the connection lasted.</summary>
    private sealed class CountingStream(Stream inner, Action<long> written, CancellationToken aborted) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            var gone = aborted.IsCancellationRequested;
            inner.Write(buffer, offset, count);
            if (!gone)
            {
                written(count);
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var gone = aborted.IsCancellationRequested;
            await inner.WriteAsync(buffer, cancellationToken);
            if (!gone)
            {
                written(buffer.Length);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
