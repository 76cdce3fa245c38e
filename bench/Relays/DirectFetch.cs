using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Bench.Relays;

/// <summary>
/// The reference: the same number of clients fetching the same file segment by segment with HTTP Range, with the same
/// parallelism and the same SHA-256 check per segment, from a bare Kestrel static-file endpoint (no JP1Dist). The floor of
/// moving N × the package over loopback with this client code on this machine.
/// </summary>
public static class DirectFetch
{
    public const string Server = "Kestrel minimal API on 127.0.0.1:0, Results.File(path, enableRangeProcessing: true), no authentication";

    /// <summary>Serves <paramref name="path"/>, runs the fetches, stops the server; throws when a segment is wrong.</summary>
    public static async Task<DirectFetchReference> RunAsync(string path, long segmentSize, int clients, int parallelism, HttpMessageHandler handler, CancellationToken cancellationToken)
    {
        var size = new FileInfo(path).Length;
        var hashes = await SegmentHashesAsync(path, segmentSize, cancellationToken);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapGet("/file", () => Results.File(path, "application/octet-stream", enableRangeProcessing: true));
        await app.StartAsync(cancellationToken);
        try
        {
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient(handler, disposeHandler: false) { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };
            long requests = 0, bytes = 0;
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, clients), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken },
                async (_, ct) =>
                {
                    for (var index = 0; index < hashes.Count; index++)
                    {
                        var offset = index * segmentSize;
                        var length = (int)Math.Min(segmentSize, size - offset);
                        using var request = new HttpRequestMessage(HttpMethod.Get, "/file");
                        request.Headers.Range = new RangeHeaderValue(offset, offset + length - 1);
                        using var response = await http.SendAsync(request, ct);
                        if (response.StatusCode != HttpStatusCode.PartialContent)
                        {
                            throw new InvalidOperationException($"The reference server answered {(int)response.StatusCode} to a Range request.");
                        }
                        var segment = await response.Content.ReadAsByteArrayAsync(ct);
                        if (segment.Length != length || !string.Equals(Convert.ToHexStringLower(SHA256.HashData(segment)), hashes[index], StringComparison.Ordinal))
                        {
                            throw new InvalidOperationException($"The reference server sent a wrong segment {index}.");
                        }
                        Interlocked.Increment(ref requests);
                        Interlocked.Add(ref bytes, segment.Length);
                    }
                });
            var seconds = clock.Elapsed.TotalSeconds;
            return new DirectFetchReference(Server, clients, requests, bytes, Math.Round(seconds, 3), Math.Round(bytes / 1048576.0 / seconds, 1));
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }

    private static async Task<List<string>> SegmentHashesAsync(string path, long segmentSize, CancellationToken cancellationToken)
    {
        var hashes = new List<string>();
        var buffer = new byte[segmentSize];
        await using var file = File.OpenRead(path);
        int read;
        while ((read = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken)) > 0)
        {
            hashes.Add(Convert.ToHexStringLower(SHA256.HashData(buffer.AsSpan(0, read))));
        }
        return hashes;
    }
}
