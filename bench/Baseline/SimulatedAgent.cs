using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using JP1Dist.Core.Security;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;

namespace JP1Dist.Bench.Baseline;

/// <summary>
/// One agent speaking the real protocol over HTTP, without the real agent's disk state or install step:
/// register, long-poll, fetch content by Range and check its hashes, report Transferring, Installing, Succeeded.
/// </summary>
public sealed class SimulatedAgent
{
    private readonly HttpClient _http;
    private readonly string _name;
    private RegisterResponse? _identity;

    public SimulatedAgent(HttpClient http, string name)
    {
        _http = http;
        _name = name;
    }

    /// <summary>The host name the agent registers under.</summary>
    public string Name => _name;

    /// <summary>Registers with the enrollment token, keeping the credential and the manifest key it gets back.</summary>
    public async Task RegisterAsync(string token, RequestCounters counters, CancellationToken cancellationToken)
    {
        var request = new RegisterRequest(token, _name, "Linux", "bench", "X64", ["127.0.0.1"], null, "bench");
        _identity = await CallAsync(counters, async () =>
        {
            using var response = await _http.PostAsJsonAsync(ApiPaths.Register, request, ProtocolJson.Options, cancellationToken);
            return await ReadAsync<RegisterResponse>(response, cancellationToken);
        }, cancellationToken);
        counters.Register();
    }

    /// <summary>One poll; <paramref name="wait"/> zero answers at once, more holds the request until work comes or the wait ends.</summary>
    public async Task<WorkResponse> PollAsync(TimeSpan wait, RequestCounters counters, CancellationToken cancellationToken)
    {
        var work = await CallAsync(counters, async () =>
        {
            // The manager clamps the wait; give the answer that much time and some more, like the real agent.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(wait + TimeSpan.FromSeconds(30));
            using var request = Authorized(HttpMethod.Get, $"{ApiPaths.Work}?wait={(int)wait.TotalSeconds}");
            try
            {
                using var response = await _http.SendAsync(request, deadline.Token);
                return await ReadAsync<WorkResponse>(response, deadline.Token);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                // No answer within the deadline: the real agent polls again (a TimeoutException, retried), and so does this one.
                throw new TimeoutException($"{_name}: the manager did not answer a poll within {(wait + TimeSpan.FromSeconds(30)).TotalSeconds:0} s.", e);
            }
        }, cancellationToken);
        counters.Poll(empty: work.Items.Count == 0);
        return work;
    }

    /// <summary>
    /// Long-polls until work arrives, then does it while holding a slot of <paramref name="gate"/>, so that the
    /// transfer and report requests of all agents never exceed the benchmark's parallelism.
    /// </summary>
    public async Task RunJobAsync(TimeSpan wait, SemaphoreSlim gate, RequestCounters counters, Action onPollSent, Action onWorkReceived, CancellationToken cancellationToken)
    {
        while (true)
        {
            onPollSent();
            var work = await PollAsync(wait, counters, cancellationToken);
            if (work.Items.Count == 0)
            {
                continue;
            }
            onWorkReceived();
            await gate.WaitAsync(cancellationToken);
            try
            {
                foreach (var item in work.Items)
                {
                    await ExecuteAsync(item, counters, cancellationToken);
                }
            }
            finally
            {
                gate.Release();
            }
            return;
        }
    }

    private async Task ExecuteAsync(WorkItem item, RequestCounters counters, CancellationToken cancellationToken)
    {
        if (!ManifestSigner.Verify(_identity!.ManifestPublicKey, item.Manifest, item.ManifestSignature))
        {
            throw new InvalidOperationException($"{_name}: the manifest of job {item.JobName} is not signed by the manager.");
        }
        var manifest = JsonSerializer.Deserialize<PackageManifest>(item.Manifest, ProtocolJson.Options)
            ?? throw new InvalidOperationException($"{_name}: the manifest of job {item.JobName} is empty.");
        await ReportAsync(new ReportRequest(item.WorkItemId, "Transferring"), counters, cancellationToken);
        long transferred = 0;
        foreach (var file in manifest.Files)
        {
            using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (var index = 0; index < file.Segments.Count; index++)
            {
                var offset = index * manifest.SegmentSize;
                var length = (int)Math.Min(manifest.SegmentSize, file.Size - offset);
                var segment = await FetchRangeAsync(file.Sha256, offset, length, counters, cancellationToken);
                if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(segment)), file.Segments[index], StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidOperationException($"{_name}: segment {index} of {file.Path} failed its hash check.");
                }
                whole.AppendData(segment);
                transferred += length;
            }
            if (!string.Equals(Convert.ToHexStringLower(whole.GetHashAndReset()), file.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"{_name}: {file.Path} does not match its hash.");
            }
        }
        await ReportAsync(new ReportRequest(item.WorkItemId, "Installing", BytesTransferred: transferred), counters, cancellationToken);
        await ReportAsync(new ReportRequest(item.WorkItemId, "Succeeded", 0, "Simulated install.", null, transferred), counters, cancellationToken);
    }

    private async Task<byte[]> FetchRangeAsync(string sha256, long offset, int length, RequestCounters counters, CancellationToken cancellationToken)
    {
        var bytes = await CallAsync(counters, async () =>
        {
            using var request = Authorized(HttpMethod.Get, ApiPaths.ContentPrefix + sha256);
            request.Headers.Range = new RangeHeaderValue(offset, offset + length - 1);
            using var response = await _http.SendAsync(request, cancellationToken);
            await EnsureSuccessAsync(response, cancellationToken);
            if (response.StatusCode != HttpStatusCode.PartialContent)
            {
                throw new InvalidOperationException($"{_name}: the manager ignored the Range header ({(int)response.StatusCode}).");
            }
            return await response.Content.ReadAsByteArrayAsync(cancellationToken);
        }, cancellationToken);
        counters.Content();
        return bytes.Length == length
            ? bytes
            : throw new InvalidOperationException($"{_name}: asked for {length} bytes at {offset} of {sha256}, got {bytes.Length}.");
    }

    private async Task ReportAsync(ReportRequest report, RequestCounters counters, CancellationToken cancellationToken)
    {
        var answer = await CallAsync(counters, async () =>
        {
            using var request = Authorized(HttpMethod.Post, ApiPaths.Report);
            request.Content = JsonContent.Create(report, options: ProtocolJson.Options);
            using var response = await _http.SendAsync(request, cancellationToken);
            return await ReadAsync<ReportResponse>(response, cancellationToken);
        }, cancellationToken);
        counters.Report(answer.Accepted);
    }

    private HttpRequestMessage Authorized(HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, path);
        if (_identity is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{_identity.HostId}.{_identity.Credential}");
        }
        return request;
    }

    /// <summary>Retries what the real agent retries (network errors and 5xx), five attempts with doubling delays, and counts each retry.</summary>
    private static async Task<T> CallAsync<T>(RequestCounters counters, Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (IsTransient(e) && attempt < 5 && !cancellationToken.IsCancellationRequested)
            {
                counters.Retry();
                await Task.Delay(delay, cancellationToken);
                delay *= 2;
            }
        }
    }

    private static bool IsTransient(Exception e) => e is HttpRequestException { StatusCode: null or >= HttpStatusCode.InternalServerError }
        or IOException or SocketException or TimeoutException or TaskCanceledException { InnerException: TimeoutException };

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await EnsureSuccessAsync(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync<T>(ProtocolJson.Options, cancellationToken)
            ?? throw new InvalidOperationException("The manager sent an empty answer.");
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"{(int)response.StatusCode} from {response.RequestMessage?.RequestUri?.AbsolutePath}: {body}", null, response.StatusCode);
        }
    }
}
