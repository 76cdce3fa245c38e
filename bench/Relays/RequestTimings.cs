using System.Collections.Concurrent;
using System.Diagnostics;
using JP1Dist.Protocol;

namespace JP1Dist.Bench.Relays;

/// <summary>
/// Times the simulated clients' requests by kind, from sending to the whole body received, so that the run can say where
/// a client's time goes (content against reports, whose answer waits for the relay's batch to reach the manager).
/// Thread-safe; it sits between the clients' HttpClient and the socket handler and does not change what is sent.
/// </summary>
public sealed class RequestTimings : DelegatingHandler
{
    private readonly ConcurrentDictionary<string, ConcurrentBag<double>> _milliseconds = new(StringComparer.Ordinal);

    public RequestTimings(HttpMessageHandler inner) : base(inner)
    {
    }

    /// <summary>When false, requests are passed on without being recorded (setup before the measured phase).</summary>
    public bool Recording { get; set; }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var response = await base.SendAsync(request, cancellationToken);
        // Buffer the body here so that the time covers it; HttpClient would buffer it right after anyway.
        await response.Content.LoadIntoBufferAsync(cancellationToken);
        var kind = Kind(request);
        // A long poll's time is mostly waiting for the job to be executed: it says nothing about the relay.
        if (Recording && kind != "work")
        {
            _milliseconds.GetOrAdd(kind, _ => []).Add(clock.Elapsed.TotalMilliseconds);
        }
        return response;
    }

    private static string Kind(HttpRequestMessage request)
    {
        var path = request.RequestUri?.IsAbsoluteUri == true ? request.RequestUri.AbsolutePath : request.RequestUri?.OriginalString ?? "";
        return path.StartsWith(ApiPaths.ContentPrefix, StringComparison.Ordinal) ? "content"
            : path.StartsWith(ApiPaths.Report, StringComparison.Ordinal) ? "report"
            : path.StartsWith(ApiPaths.Work, StringComparison.Ordinal) ? "work"
            : path.StartsWith(ApiPaths.Register, StringComparison.Ordinal) ? "register"
            : "other";
    }

    /// <summary>Per kind: count, total seconds, and the median, 95th percentile and maximum in milliseconds.</summary>
    public IReadOnlyDictionary<string, RequestTiming> Summarize() => _milliseconds.OrderBy(k => k.Key, StringComparer.Ordinal).ToDictionary(k => k.Key, k =>
    {
        var sorted = k.Value.Order().ToArray();
        double At(double q) => sorted.Length == 0 ? 0 : Math.Round(sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))], 1);
        return new RequestTiming(sorted.Length, Math.Round(sorted.Sum() / 1000, 2), At(0.5), At(0.95), sorted.Length == 0 ? 0 : Math.Round(sorted[^1], 1));
    }, StringComparer.Ordinal);
}

/// <summary>How long one kind of request took, summed over every client and by distribution.</summary>
public sealed record RequestTiming(int Count, double TotalSeconds, double MedianMs, double P95Ms, double MaxMs);
