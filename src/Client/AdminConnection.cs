using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;

namespace JP1Dist.Client;

/// <summary>
/// One connection to a manager's admin API: its URL, the access key sent with every request, and TLS pinned to the
/// manager's certificate when a pin is given (<see cref="CertificatePinning"/>, the rule agents apply), else checked against
/// the operating system's trust store. Every failure is a <see cref="DistException"/>: the manager's own, rebuilt from its
/// problem details (same id, kind and target as the engine threw there), or one saying that the manager was not reached.
/// </summary>
public sealed class AdminConnection : IDisposable
{
    private readonly HttpClient _http;

    public AdminConnection(Uri manager, string accessKey, string? certificatePin)
    {
        if (manager.Scheme != Uri.UriSchemeHttps && !(manager.Scheme == Uri.UriSchemeHttp && manager.IsLoopback))
        {
            throw new DistException("ManagerUriInvalid", DistErrorKind.InvalidArgument,
                $"'{manager}' is not an https:// URL of a manager (plain http only to this computer: the access key would travel in clear).", manager.ToString());
        }
        if (string.IsNullOrWhiteSpace(accessKey))
        {
            throw new DistException("AccessKeyMissing", DistErrorKind.Unauthorized, "No access key was given: New-DistAccessKey on the manager makes one.");
        }
        Manager = new Uri(manager.GetLeftPart(UriPartial.Authority) + "/");
        CertificatePin = certificatePin;
        SocketsHttpHandler handler;
        try
        {
            handler = CertificatePinning.CreateHandler(certificatePin);
        }
        catch (ArgumentException e)
        {
            throw new DistException("CertificatePinInvalid", DistErrorKind.InvalidArgument, e.Message, certificatePin);
        }
        _http = new HttpClient(handler) { BaseAddress = Manager, Timeout = TimeSpan.FromMinutes(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(AdminApiPaths.Scheme, accessKey.Trim());
    }

    /// <summary>The manager's address (scheme, host and port).</summary>
    public Uri Manager { get; }

    /// <summary>The pin the manager's certificate must have; null when the operating system's trust store decides.</summary>
    public string? CertificatePin { get; }

    /// <summary>How many times a request answered 429 (the key's request limit) is sent again after the wait the manager names.</summary>
    public int RateLimitRetries { get; init; } = 3;

    /// <summary>The longest Retry-After waited for; a manager asking for more is answered with its refusal at once.</summary>
    public TimeSpan MaxRateLimitWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>GET a path below the API's base, with query values (nulls left out); the answer read as <typeparamref name="T"/>.</summary>
    public Task<T> GetAsync<T>(string path, CancellationToken cancellationToken, params (string Name, string? Value)[] query) =>
        SendAsync<T>(HttpMethod.Get, path + Query(query), null, cancellationToken);

    /// <summary>Sends a request with a JSON body (or none) and reads the answer as <typeparamref name="T"/>.</summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, path, () => Json(body), cancellationToken);
        return await ReadAsync<T>(response, path, cancellationToken);
    }

    private async Task<T> ReadAsync<T>(HttpResponseMessage response, string path, CancellationToken cancellationToken) =>
        await response.Content.ReadFromJsonAsync<T>(ProtocolJson.Options, cancellationToken)
            ?? throw new DistException("ManagerAnswerInvalid", DistErrorKind.NotAvailable, $"{Manager} answered {path} with nothing.");

    private static JsonContent? Json(object? body) => body is null ? null : JsonContent.Create(body, body.GetType(), options: ProtocolJson.Options);

    /// <summary>Sends a request whose answer carries nothing (204).</summary>
    public async Task SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, path, () => Json(body), cancellationToken);
    }

    /// <summary>Sends bytes as the body (application/octet-stream) with one more header, and reads the answer as <typeparamref name="T"/>.</summary>
    public async Task<T> SendBytesAsync<T>(HttpMethod method, string path, ReadOnlyMemory<byte> bytes, (string Name, string Value) header, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, path, () =>
        {
            var content = new ReadOnlyMemoryContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.TryAddWithoutValidation(header.Name, header.Value);
            return content;
        }, cancellationToken);
        return await ReadAsync<T>(response, path, cancellationToken);
    }

    /// <summary>GET a path whose answer is read as a stream, not held in memory (a package's file); dispose the stream.</summary>
    public async Task<Stream> GetStreamAsync(string path, CancellationToken cancellationToken)
    {
        var response = await SendRawAsync(HttpMethod.Get, path, () => null, cancellationToken, HttpCompletionOption.ResponseHeadersRead);
        try
        {
            return new ResponseStream(response, await response.Content.ReadAsStreamAsync(cancellationToken));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// GET a path whose answer is a JSON array, read one element at a time as it arrives (a refusal is the manager's
    /// <see cref="DistException"/> before the first element); nothing but the element being read is held in memory.
    /// </summary>
    public async IAsyncEnumerable<T> StreamAsync<T>(string path, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken,
        params (string Name, string? Value)[] query)
    {
        await using var stream = await GetStreamAsync(path + Query(query), cancellationToken);
        await foreach (var item in JsonSerializer.DeserializeAsyncEnumerable<T>(stream, ProtocolJson.Options, cancellationToken))
        {
            yield return item ?? throw new DistException("ManagerAnswerInvalid", DistErrorKind.NotAvailable, $"{Manager} answered {path} with an empty element.");
        }
    }

    /// <summary>An answer's body that disposes its answer with it.</summary>
    private sealed class ResponseStream(HttpResponseMessage response, Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>The query string of the values given (nulls left out).</summary>
    public static string Query(params (string Name, string? Value)[] values)
    {
        var given = values.Where(v => v.Value is not null).Select(v => $"{v.Name}={Uri.EscapeDataString(v.Value!)}").ToList();
        return given.Count == 0 ? "" : "?" + string.Join('&', given);
    }

    /// <summary>
    /// Sends a request, its body made by <paramref name="content"/> for each try: a 429 (the key's request limit) is waited
    /// out as the manager asks (bounded, cancellable) and sent again, up to <see cref="RateLimitRetries"/> times; any other
    /// refusal becomes the manager's <see cref="DistException"/>.
    /// </summary>
    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, Func<HttpContent?> content, CancellationToken cancellationToken,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await SendOnceAsync(method, path, content(), completion, cancellationToken);
            if (response.StatusCode == HttpStatusCode.TooManyRequests && attempt < RateLimitRetries && RetryAfter(response) is { } wait && wait <= MaxRateLimitWait)
            {
                response.Dispose();
                await Task.Delay(wait, cancellationToken);
                continue;
            }
            if (response.IsSuccessStatusCode)
            {
                return response;
            }
            using (response)
            {
                throw await ProblemAsync(response, cancellationToken);
            }
        }
    }

    /// <summary>The wait a 429 names (Retry-After in seconds or as a date; one second when it names none).</summary>
    private static TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero,
        _ => TimeSpan.FromSeconds(1),
    };

    private async Task<HttpResponseMessage> SendOnceAsync(HttpMethod method, string path, HttpContent? content, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, AdminApiPaths.Base.TrimStart('/') + "/" + path) { Content = content };
        try
        {
            return await _http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e) when (CertificatePinning.Unwrap(e) is { } mismatch)
        {
            throw new DistException("CertificateNotTrusted", DistErrorKind.Unauthorized, mismatch.Message, Manager.ToString(), e);
        }
        catch (HttpRequestException e)
        {
            var trust = e.InnerException is System.Security.Authentication.AuthenticationException
                ? " Its certificate is not trusted by this computer: give its pin with -CertificatePin (Get-DistManager on the manager shows it)." : "";
            throw new DistException("ManagerUnreachable", DistErrorKind.NotAvailable, $"The manager at {Manager} could not be reached: {e.Message}{trust}", Manager.ToString(), e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new DistException("ManagerUnreachable", DistErrorKind.NotAvailable, $"The manager at {Manager} did not answer within {_http.Timeout.TotalMinutes:0} minutes.", Manager.ToString(), e);
        }
    }

    /// <summary>The manager's refusal as the exception the engine threw there: its id, kind, message and target.</summary>
    private async Task<DistException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var kind = status switch
        {
            401 => DistErrorKind.Unauthorized,
            403 => DistErrorKind.Forbidden,
            404 => DistErrorKind.NotFound,
            409 => DistErrorKind.InvalidOperation,
            429 or >= 500 => DistErrorKind.NotAvailable,
            _ => DistErrorKind.InvalidArgument,
        };
        string? errorId = null, detail = null, target = null;
        try
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            var root = problem.RootElement;
            errorId = Text(root, "errorId");
            detail = Text(root, "detail");
            target = Text(root, "target") ?? Text(root, "field");
            if (Text(root, "kind") is { } named && Enum.TryParse<DistErrorKind>(named, out var parsed))
            {
                kind = parsed;
            }
        }
        catch (JsonException)
        {
            // Not problem details (a proxy's page, say): the status says what it can.
        }
        return new DistException(errorId ?? (status == (int)HttpStatusCode.NotFound ? "AdminEndpointNotFound" : "ManagerRefused"), kind,
            detail ?? $"The manager at {Manager} answered {status} {response.ReasonPhrase}.", target);
    }

    private static string? Text(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public void Dispose() => _http.Dispose();
}
