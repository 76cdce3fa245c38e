using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// The segment fetch on its own: segments received while earlier ones are checked and written, every segment size and
/// file length (unbuffered writes for aligned segments, ordinary writes for the rest and for a short last segment),
/// a bad segment fetched again, a stop counting exactly what is on disk.
/// </summary>
public sealed class SegmentFetchTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "jp1dist-fetch-" + Guid.NewGuid().ToString("N")[..8]);

    public SegmentFetchTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static byte[] Payload(int size) => Enumerable.Range(0, size).Select(i => (byte)(i * 31 % 253)).ToArray();

    private static ManifestFile Manifest(byte[] payload, long segmentSize)
    {
        var segments = new List<string>();
        for (long offset = 0; offset < payload.Length; offset += segmentSize)
        {
            segments.Add(Convert.ToHexStringLower(SHA256.HashData(payload.AsSpan((int)offset, (int)Math.Min(segmentSize, payload.Length - offset)))));
        }
        return new ManifestFile("payload.bin", payload.Length, Convert.ToHexStringLower(SHA256.HashData(payload)), segments);
    }

    private async Task<(bool Complete, int Confirmed)> FetchAsync(byte[] payload, ManifestFile file, long segmentSize, RangeHandler handler,
        Func<int, bool>? goOn = null, int attempts = 3)
    {
        using var client = new HigherSystemClient(new Uri("http://127.0.0.1:1/"), handler);
        using var reader = new SegmentReader(client, file.Sha256, new TransferThrottle(0));
        await using var fetch = await SegmentFetch.OpenAsync(Path.Combine(_folder, "payload.part"), file, segmentSize, CancellationToken.None);
        var complete = await fetch.RunAsync(reader, read => read(), received => Task.FromResult(goOn?.Invoke(received) ?? true),
            attempts, NullLogger.Instance, file.Path, CancellationToken.None);
        return (complete, fetch.Confirmed);
    }

    [Theory]
    [InlineData(4096, 10 * 4096 + 123)] // aligned segments and a short last one
    [InlineData(4096, 3 * 4096)]
    [InlineData(5000, 7 * 5000 + 1)] // segments that are not block-aligned
    [InlineData(65536, 1000)] // one short segment
    [InlineData(8192, 40 * 8192)]
    public async Task Assembles_the_file_for_any_segment_size_and_length(int segmentSize, int size)
    {
        var payload = Payload(size);
        var file = Manifest(payload, segmentSize);

        var (complete, confirmed) = await FetchAsync(payload, file, segmentSize, new RangeHandler(payload));

        Assert.True(complete);
        Assert.Equal(file.Segments.Count, confirmed);
        Assert.Equal(payload, await File.ReadAllBytesAsync(Path.Combine(_folder, "payload.part")));
    }

    [Fact]
    public async Task A_segment_that_fails_its_check_is_fetched_again_from_there()
    {
        var payload = Payload(12 * 4096);
        var file = Manifest(payload, 4096);
        var handler = new RangeHandler(payload) { CorruptOffsets = { 2 * 4096 + 9 } };

        var (complete, _) = await FetchAsync(payload, file, 4096, handler);

        Assert.True(complete);
        Assert.Equal([0L, 2 * 4096], handler.Offsets);
        Assert.Equal(payload, await File.ReadAllBytesAsync(Path.Combine(_folder, "payload.part")));
    }

    [Fact]
    public async Task A_segment_that_keeps_failing_fails_the_fetch_and_keeps_the_segments_before_it()
    {
        var payload = Payload(8 * 4096);
        var file = Manifest(payload, 4096);
        var handler = new RangeHandler(payload) { CorruptOffsets = { 5 * 4096, 5 * 4096 + 1, 5 * 4096 + 2 } };

        var failure = await Assert.ThrowsAsync<ContentVerificationException>(() => FetchAsync(payload, file, 4096, handler, attempts: 3));

        Assert.Contains("Segment 5", failure.Message, StringComparison.Ordinal);
        Assert.Equal([0L, 5 * 4096, 5 * 4096], handler.Offsets);
        await using var again = await SegmentFetch.OpenAsync(Path.Combine(_folder, "payload.part"), file, 4096, CancellationToken.None);
        Assert.Equal(5, again.Confirmed);
    }

    [Fact]
    public async Task A_stopped_fetch_counts_what_is_on_disk_and_the_next_one_goes_on_from_there()
    {
        var payload = Payload(9 * 4096 + 77);
        var file = Manifest(payload, 4096);

        var (complete, confirmed) = await FetchAsync(payload, file, 4096, new RangeHandler(payload), goOn: received => received < 4);
        Assert.False(complete);
        Assert.Equal(4, confirmed); // the segments in flight at the stop were checked and written, then counted

        var handler = new RangeHandler(payload);
        (complete, confirmed) = await FetchAsync(payload, file, 4096, handler);
        Assert.True(complete);
        Assert.Equal(10, confirmed);
        Assert.Equal([4L * 4096], handler.Offsets);
        Assert.Equal(payload, await File.ReadAllBytesAsync(Path.Combine(_folder, "payload.part")));
    }

    [JP1Dist.Tests.Host.SmallVolumeFact]
    public async Task A_write_the_disk_refuses_is_a_disk_full_fault_naming_the_partial_file_and_what_it_still_needs()
    {
        var payload = Payload(64 * 4096);
        var file = Manifest(payload, 4096);
        using var volume = JP1Dist.Tests.Host.SmallVolume.Mount(Path.Combine(_folder, "small"), 64 * 1024);
        var partial = Path.Combine(volume.Path, "payload.part");
        using var client = new HigherSystemClient(new Uri("http://127.0.0.1:1/"), new RangeHandler(payload));
        using var reader = new SegmentReader(client, file.Sha256, new TransferThrottle(0));

        var fault = await Assert.ThrowsAsync<LocalFaultException>(async () =>
        {
            await using var fetch = await SegmentFetch.OpenAsync(partial, file, 4096, CancellationToken.None);
            await fetch.RunAsync(reader, read => read(), _ => Task.FromResult(true), 3, NullLogger.Instance, file.Path, CancellationToken.None);
        });

        Assert.Equal((LocalFaultKind.DiskFull, partial), (fault.Fault.Kind, fault.Fault.Path));
        Assert.InRange(fault.Fault.NeededBytes!.Value, payload.Length - 64 * 1024, payload.Length - 4096); // the rest of the file from the refused segment
        Assert.False(HigherSystemClient.IsTransient(fault));
        Assert.StartsWith($"The disk is full: writing '{partial}' needs ", fault.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Buffers_are_aligned_and_unbuffered_writes_turn_on_and_off_on_Linux()
    {
        for (var size = 1; size < 20_000; size += 4999)
        {
            var buffer = UnbufferedWrites.AlignedBuffer(size);
            Assert.Equal(size, buffer.Length);
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(buffer, out var segment));
            var start = System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(segment.Array!, segment.Offset);
            Assert.Equal(0, start.ToInt64() % UnbufferedWrites.Alignment);
        }
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var path = Path.Combine(_folder, "direct.bin");
        using var file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        Assert.True(UnbufferedWrites.TryEnable(file));
        Assert.True(IsDirect(file));
        var block = UnbufferedWrites.AlignedBuffer(UnbufferedWrites.Alignment);
        block.Span.Fill(7);
        RandomAccess.Write(file, block.Span, 0);
        Assert.True(UnbufferedWrites.TryDisable(file));
        Assert.False(IsDirect(file));
        RandomAccess.Write(file, new byte[] { 1, 2, 3 }, UnbufferedWrites.Alignment);
        Assert.Equal(UnbufferedWrites.Alignment + 3, RandomAccess.GetLength(file));
    }

    /// <summary>Whether the open file has O_DIRECT, from the kernel's own view of it.</summary>
    private static bool IsDirect(Microsoft.Win32.SafeHandles.SafeFileHandle file)
    {
        var line = File.ReadAllLines($"/proc/self/fdinfo/{file.DangerousGetHandle()}").Single(l => l.StartsWith("flags:", StringComparison.Ordinal));
        var flags = Convert.ToInt32(line["flags:".Length..].Trim(), 8);
        var direct = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture is System.Runtime.InteropServices.Architecture.Arm64 ? 0x10000 : 0x4000;
        return (flags & direct) != 0;
    }

    /// <summary>Serves one payload by Range, as the higher system's content endpoint does, corrupting chosen bytes once each.</summary>
    private sealed class RangeHandler(byte[] payload) : HttpMessageHandler
    {
        public List<long> Offsets { get; } = [];
        public HashSet<long> CorruptOffsets { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var from = request.Headers.Range!.Ranges.Single().From!.Value;
            Offsets.Add(from);
            var body = payload.AsSpan((int)from).ToArray();
            foreach (var corrupt in CorruptOffsets.Where(o => o >= from).Order().Take(1).ToList())
            {
                body[corrupt - from] ^= 0xFF;
                CorruptOffsets.Remove(corrupt);
            }
            var content = new ByteArrayContent(body);
            content.Headers.ContentRange = new ContentRangeHeaderValue(from, payload.Length - 1, payload.Length);
            content.Headers.ContentLength = body.Length;
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = content });
        }
    }
}
