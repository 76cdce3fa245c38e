using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace JP1Dist.Server.Serving;

/// <summary>
/// Runs a result with the response body counted as it is written, so a metric adds the bytes that went out, not the
/// length the response announced: a transfer the client cut short counts only what was written before the cut (at most
/// what the sockets' buffers held beyond what reached the client). Once the connection is gone, Kestrel takes writes and
/// drops them, and the copy of a file's rest from the page cache runs fast enough to count it whole, so a write is not
/// counted once any of three signs of the cut has shown: the socket's side of the output pipe completed (a write's flush
/// says so, first of the three), the connection's closed token, the request's abort token (the last two fire on the
/// thread pool after the socket failed). A write begun before the cut counts even when the cut comes while it waits: the
/// client of a whole transfer closes only after the last write went out. A write whose flush finds the cut is not counted,
/// though part of it may have gone out. The flush's sign is seen on asynchronous writes of a response with a length (every
/// content response); a synchronous write (not allowed by Kestrel's defaults) and a chunked response rely on the tokens.
/// </summary>
internal static class CountedResponseBody
{
    public static async Task ExecuteAsync(HttpContext context, IResult result, Action<long> written)
    {
        var original = context.Features.Get<IHttpResponseBodyFeature>()!;
        var closed = context.Features.Get<IConnectionLifetimeFeature>()?.ConnectionClosed ?? CancellationToken.None;
        var counted = new CountedBodyFeature(new CountingStream(original, written, context.RequestAborted, closed), original);
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

    /// <summary>The most a file's copy reads at a time (a buffer from the shared pool), what ASP.NET Core's own copy reads.</summary>
    internal const int CopyBufferSize = 16 * 1024;

    /// <summary>
    /// The counted body, which sends a file (<c>Results.File</c>, content by range) from a buffer of the shared pool. The
    /// feature it replaces sends a file through a FileStream with a 16 KB buffer of its own for each response: at 10,000
    /// agents fetching a small package that was a fifth of the bytes the manager allocated in a job (docs/benchmarks.md).
    /// </summary>
    private sealed class CountedBodyFeature(Stream counting, IHttpResponseBodyFeature prior) : StreamResponseBodyFeature(counting, prior)
    {
        public override async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken)
        {
            await StartAsync(cancellationToken);
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var length = RandomAccess.GetLength(file);
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, length);
            var remaining = count ?? length - offset;
            ArgumentOutOfRangeException.ThrowIfNegative(remaining, nameof(count));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(remaining, length - offset, nameof(count));
            var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(remaining, 1, CopyBufferSize));
            try
            {
                for (var position = offset; remaining > 0;)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var read = await RandomAccess.ReadAsync(file, buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), position, cancellationToken);
                    if (read == 0)
                    {
                        throw new EndOfStreamException($"{path} ended before the {count ?? length - offset} bytes from {offset} were sent.");
                    }
                    await Stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    position += read;
                    remaining -= read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// A write-only stream over the response's pipe that reports each write's length once the pipe has taken it, for
    /// writes begun while the connection lasted and taken by a pipe whose reader (the socket) was still there.
    /// </summary>
    private sealed class CountingStream(IHttpResponseBodyFeature inner, Action<long> written, CancellationToken aborted, CancellationToken closed) : Stream
    {
        private bool _cut;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        private bool Cut => _cut || aborted.IsCancellationRequested || closed.IsCancellationRequested;

        public override void Write(byte[] buffer, int offset, int count)
        {
            var cut = Cut;
            inner.Stream.Write(buffer, offset, count);
            if (!cut)
            {
                written(count);
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var cut = Cut;
            var flushed = await inner.Writer.WriteAsync(buffer, cancellationToken);
            if (flushed.IsCompleted)
            {
                _cut = true; // the socket no longer reads the output: this write and every later one go nowhere
            }
            else if (!cut)
            {
                written(buffer.Length);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Stream.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.Stream.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
