using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Tls;

namespace JP1Dist.Agent;

/// <summary>A refusal from the higher system, with its problem-details error id.</summary>
public sealed class HigherSystemException(HttpStatusCode status, string errorId, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
    public string ErrorId { get; } = errorId;
}

/// <summary>
/// The higher system answered a success with a body that is not the protocol's (an HTML page from a proxy, a truncated or
/// foreign JSON): nothing of it was used. An <see cref="IOException"/>, so a node treats it like an unreachable higher
/// system: it tries again later.
/// </summary>
public sealed class MalformedAnswerException(string what, Exception inner)
    : IOException($"The higher system's answer to {what} is not a JP1Dist answer ({inner.Message}); it was not used.", inner);

/// <summary>
/// A stand-in higher system (not the node's first) does not know the node's credential: a relay the node never registered
/// through. Not a reason to register again (only the node's own higher system decides that): an <see cref="IOException"/>,
/// so the call is tried again, on the next higher system.
/// </summary>
public sealed class StandInRefusedException(Uri standIn, HigherSystemException refused)
    : IOException($"The stand-in higher system {standIn.GetLeftPart(UriPartial.Authority)} does not know this node's credential ({refused.ErrorId}); trying the next one.", refused);

/// <summary>
/// The agent's side of the agent API. Over https with a pin, the higher system's certificate is checked against the pin
/// before anything is sent (<see cref="CertificatePinning"/>); a mismatch surfaces as <see cref="CertificatePinMismatchException"/>.
/// </summary>
public sealed class HigherSystemClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _pinned;
    private readonly HigherSystems _systems;

    /// <summary>
    /// A client of <paramref name="baseAddress"/>, held to <paramref name="certificatePin"/> or to a certificate issued by one
    /// of <paramref name="trustedSigningKeys"/> (asked at each connection, <see cref="AgentTrust.TrustedSigningKeys"/>);
    /// <paramref name="handler"/> (tests) replaces the pinned connection handler.
    /// </summary>
    public HigherSystemClient(Uri baseAddress, HttpMessageHandler? handler = null, string? certificatePin = null, Func<IReadOnlyCollection<string>>? trustedSigningKeys = null)
        : this(new HigherSystems([baseAddress]), handler, certificatePin, trustedSigningKeys)
    {
    }

    /// <summary>
    /// A client of several higher systems in order of preference (<see cref="HigherSystems"/>): each call goes to the current
    /// one, and a call it cannot serve moves the next call on to the next. Every one of them is held to the same trust: the
    /// pin, or a certificate issued by a trusted signing key (a relay's).
    /// </summary>
    public HigherSystemClient(HigherSystems systems, HttpMessageHandler? handler = null, string? certificatePin = null, Func<IReadOnlyCollection<string>>? trustedSigningKeys = null)
    {
        _systems = systems;
        _http = handler is null ? new HttpClient(CertificatePinning.CreateHandler(certificatePin, trustedSigningKeys)) : new HttpClient(handler, disposeHandler: false);
        _pinned = certificatePin is not null;
        // Each call sets its own deadline; a long poll must not be cut by a global timeout.
        _http.Timeout = Timeout.InfiniteTimeSpan;
    }

    /// <summary>The higher system the next call goes to.</summary>
    public Uri Current => _systems.Current;

    /// <summary>The higher systems this client may use, in order of preference.</summary>
    public HigherSystems Systems => _systems;

    /// <summary>The credential sent with every call after registration.</summary>
    public AgentIdentity? Identity { get; set; }

    /// <summary>
    /// When set (`jp1dist agent --once`), how long every call waits for its answer instead of its own deadline, and how long
    /// a package's content may go silent: a higher system that accepts connections and never answers is then given up in
    /// bounded time, with a <see cref="TimeoutException"/> naming it and what it did not answer.
    /// </summary>
    public TimeSpan? AnswerTimeout { get; set; }

    // Registrations, facts and reports are fitted to the limits the higher system checks (RequestFitting): a host with an
    // unusual inventory or an install with odd output is then described a little shorter, not refused again and again.

    /// <summary>Registers this agent; a manager that signs with another key than the token names refuses (SigningKeyMismatchException).</summary>
    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await SendAsync<RegisterResponse>(HttpMethod.Post, ApiPaths.Register, JsonContent.Create(RequestFitting.Fit(request), options: ProtocolJson.Options), TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch (HigherSystemException e) when (e.ErrorId == SigningKeyMismatchId)
        {
            throw new SigningKeyMismatchException(e.Message);
        }
    }

    /// <summary>The error id of a registration refused because the token names another signing key than the manager's.</summary>
    public const string SigningKeyMismatchId = "SigningKeyMismatch";

    public Task<WorkResponse> GetWorkAsync(TimeSpan wait, CancellationToken cancellationToken) =>
        SendAsync<WorkResponse>(HttpMethod.Get, $"{ApiPaths.Work}?wait={(int)wait.TotalSeconds}", null, wait + TimeSpan.FromSeconds(30), cancellationToken);

    public Task ReportFactsAsync(FactsReport facts, CancellationToken cancellationToken) =>
        SendAsync<JsonElement>(HttpMethod.Post, ApiPaths.Facts, JsonContent.Create(RequestFitting.Fit(facts), options: ProtocolJson.Options), TimeSpan.FromSeconds(60), cancellationToken);

    public Task<ReportResponse> ReportAsync(ReportRequest report, CancellationToken cancellationToken) =>
        SendAsync<ReportResponse>(HttpMethod.Post, ApiPaths.Report, JsonContent.Create(RequestFitting.Fit(report), options: ProtocolJson.Options), TimeSpan.FromSeconds(60), cancellationToken);

    /// <summary>A relay registers one of its lower clients (any level below it) with this higher system.</summary>
    public Task<RegisterResponse> RelayRegisterAsync(RelayRegisterRequest request, CancellationToken cancellationToken) =>
        SendAsync<RegisterResponse>(HttpMethod.Post, ApiPaths.RelayRegister, JsonContent.Create(request, options: ProtocolJson.Options), TimeSpan.FromSeconds(60), cancellationToken);

    /// <summary>A relay's long poll for the work of every host below it; answered when it differs from <paramref name="etag"/>.</summary>
    public Task<RelayWorkResponse> GetRelayWorkAsync(TimeSpan wait, string? etag, CancellationToken cancellationToken) =>
        SendAsync<RelayWorkResponse>(HttpMethod.Get,
            $"{ApiPaths.RelayWork}?wait={(int)wait.TotalSeconds}" + (string.IsNullOrEmpty(etag) ? "" : "&etag=" + Uri.EscapeDataString(etag)),
            null, wait + TimeSpan.FromSeconds(30), cancellationToken, ProtocolLimits.MaxRelayWorkBytes);

    /// <summary>A relay passes reports, facts and last-seen times of its lower clients upward.</summary>
    public Task<RelayBatchResponse> SendRelayBatchAsync(RelayBatch batch, CancellationToken cancellationToken) =>
        SendAsync<RelayBatchResponse>(HttpMethod.Post, ApiPaths.RelayBatch, JsonContent.Create(batch, options: ProtocolJson.Options), TimeSpan.FromSeconds(120), cancellationToken);

    /// <summary>A relay asks for its TLS certificate (or passes up the request of a relay below it, <see cref="RelayCertificateRequest.HostId"/>).</summary>
    public Task<RelayCertificateResponse> RequestRelayCertificateAsync(RelayCertificateRequest request, CancellationToken cancellationToken) =>
        SendAsync<RelayCertificateResponse>(HttpMethod.Post, ApiPaths.RelayCertificate, JsonContent.Create(request, options: ProtocolJson.Options), TimeSpan.FromSeconds(60), cancellationToken);

    /// <summary>
    /// One authorized call with its own deadline; a refusal becomes a <see cref="HigherSystemException"/>, and an answer
    /// longer than <paramref name="maxBytes"/> (<see cref="ProtocolLimits.MaxAnswerBytes"/> unless said) an
    /// <see cref="AnswerTooLargeException"/>, before more than that is held in memory.
    /// </summary>
    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? body, TimeSpan deadline, CancellationToken cancellationToken,
        long maxBytes = ProtocolLimits.MaxAnswerBytes)
    {
        deadline = AnswerTimeout ?? deadline;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        var at = _systems.Current;
        using var request = Authorized(method, at, path);
        request.Content = body;
        try
        {
            using var response = await SendPinnedAsync(request, at, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return await ReadAsync<T>(response, path, maxBytes, timeout.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw NoAnswer(at, path.Split('?')[0], deadline, e);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && MovesOn(e, at) is { } moved)
        {
            throw moved == e ? e : moved;
        }
    }

    /// <summary>
    /// After a call to <paramref name="at"/> failed with <paramref name="e"/>: whether the next call goes to another higher
    /// system, and what to throw. It moves on from one that cannot serve (unreachable, 5xx, an answer that is not the
    /// protocol's: <see cref="IsTransient"/>) or is not the one trusted (a certificate other than the pinned one); and from a
    /// stand-in (not the first) that does not know this host's credential: only the node's own higher system decides that
    /// the node must register again, so a stand-in's 401 becomes a <see cref="StandInRefusedException"/>, tried again on the
    /// next one. Null when nothing moves: the failure stands as it is.
    /// </summary>
    private Exception? MovesOn(Exception e, Uri at)
    {
        if (e is HigherSystemException { Status: HttpStatusCode.Unauthorized } refused && refused.ErrorId != RevokedCredential.ErrorId
            && _systems.All.Count > 1 && at != _systems.All[0])
        {
            _systems.FailedOver(at);
            return new StandInRefusedException(at, refused);
        }
        if (IsTransient(e) || e is CertificatePinMismatchException)
        {
            _systems.FailedOver(at);
            return e;
        }
        return null;
    }

    private static string Authority(Uri url) => url.GetLeftPart(UriPartial.Authority);

    /// <summary>
    /// A call to <paramref name="at"/> that got no answer within its deadline, not the caller's cancellation: a higher system
    /// that does not answer, like one that cannot be reached, is tried again later (the next one, where there are several).
    /// </summary>
    private TimeoutException NoAnswer(Uri at, string what, TimeSpan deadline, Exception inner)
    {
        _systems.FailedOver(at);
        return new TimeoutException($"The higher system {Authority(at)} did not answer {what} within {deadline.TotalSeconds:0} s.", inner);
    }

    /// <summary>Which higher system a content request went to, for <see cref="ReadContentAsync"/>.</summary>
    private static readonly HttpRequestOptionsKey<Uri> ContentFrom = new("JP1Dist.HigherSystem");

    /// <summary>
    /// Reads the next bytes of a body <see cref="OpenRangeAsync"/> opened; with <see cref="AnswerTimeout"/>, a body silent that
    /// long ends in a <see cref="TimeoutException"/> naming the higher system and the content, and the next call goes to the
    /// next higher system.
    /// </summary>
    public async ValueTask<int> ReadContentAsync(HttpResponseMessage response, Stream body, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (AnswerTimeout is not { } limit)
        {
            return await body.ReadAsync(buffer, cancellationToken);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            return await body.ReadAsync(buffer, timeout.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested
            && response.RequestMessage?.Options.TryGetValue(ContentFrom, out var at) == true)
        {
            throw NoAnswer(at!, response.RequestMessage.RequestUri!.AbsolutePath + " (the next bytes of a package)", limit, e);
        }
    }

    /// <summary>
    /// Opens a stored blob from <paramref name="offset"/> to its end (HTTP Range "bytes=offset-"): one request that a
    /// transfer reads segment after segment, so the connection keeps filling while a segment is checked and written.
    /// </summary>
    public async Task<(HttpResponseMessage Response, Stream Body)> OpenRangeAsync(string sha256, long offset, CancellationToken cancellationToken)
    {
        var at = _systems.Current;
        using var request = Authorized(HttpMethod.Get, at, ApiPaths.ContentPrefix + sha256);
        request.Headers.Range = new RangeHeaderValue(offset, null);
        request.Options.Set(ContentFrom, at);
        HttpResponseMessage response;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (AnswerTimeout is { } limit)
        {
            timeout.CancelAfter(limit);
        }
        try
        {
            response = await SendPinnedAsync(request, at, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && AnswerTimeout is { } waited)
        {
            throw NoAnswer(at, ApiPaths.ContentPrefix + sha256, waited, e);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && MovesOn(e, at) is { } moved)
        {
            throw moved == e ? e : moved;
        }
        try
        {
            if (!response.IsSuccessStatusCode)
            {
                await ThrowAsync(response, cancellationToken);
            }
            var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            if (response.StatusCode != HttpStatusCode.PartialContent && offset > 0)
            {
                await CopyDiscardAsync(body, offset, cancellationToken); // a server that ignores Range sends everything
            }
            return (response, body);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && MovesOn(e, at) is { } moved)
        {
            response.Dispose();
            throw moved == e ? e : moved;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>Sends a request; a connection refused for its certificate pin throws the pin refusal itself, not a network error.</summary>
    private async Task<HttpResponseMessage> SendPinnedAsync(HttpRequestMessage request, Uri at, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        try
        {
            return await _http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e) when (CertificatePinning.Unwrap(e) is { } mismatch)
        {
            throw mismatch;
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError && !_pinned)
        {
            // "See inner exception" helps nobody reading a startup script's log: say what to do.
            throw new HttpRequestException(HttpRequestError.SecureConnectionError,
                $"The TLS connection to {Authority(at)} failed ({e.InnerException?.Message ?? e.Message}). "
                + "Without a pin the certificate must be trusted by this computer; give the higher system's pin with --certificate-pin, "
                + "or use an enrollment token that carries it.", e);
        }
    }

    private static async Task CopyDiscardAsync(Stream stream, long count, CancellationToken cancellationToken)
    {
        var scratch = new byte[81920];
        while (count > 0)
        {
            var read = await stream.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, count)), cancellationToken);
            if (read == 0)
            {
                throw new IOException("The content ended early.");
            }
            count -= read;
        }
    }

    /// <summary>
    /// Whether a call failed at the higher system rather than here: it refused (problem details), refused to be trusted (a
    /// certificate other than the pinned one), or could not be reached. A relay answers its clients and retries on these.
    /// </summary>
    public static bool IsUpwardFailure(Exception e) => e is HigherSystemException or CertificatePinMismatchException || IsTransient(e);

    /// <summary>
    /// Whether a failed call is worth trying again: the higher system is unreachable or briefly unavailable. A fault of this
    /// computer (a full disk, a denied path: <see cref="LocalFault.Of"/>) is not, although .NET throws some as IOException too.
    /// </summary>
    public static bool IsTransient(Exception e) => LocalFault.Of(e) is null && e is HttpRequestException or IOException or System.Net.Sockets.SocketException or TimeoutException
        or TaskCanceledException { InnerException: TimeoutException }
        or HigherSystemException { Status: HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout or HttpStatusCode.InternalServerError };

    private HttpRequestMessage Authorized(HttpMethod method, Uri at, string path)
    {
        var request = new HttpRequestMessage(method, new Uri(at, path));
        if (Identity is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{Identity.HostId}.{Identity.Credential}");
        }
        return request;
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, string path, long maxBytes, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            await ThrowAsync(response, cancellationToken);
        }
        var what = path.Split('?')[0];
        if (response.Content.Headers.ContentLength > maxBytes)
        {
            throw new AnswerTooLargeException(what, maxBytes);
        }
        await using var body = new LimitedReadStream(await response.Content.ReadAsStreamAsync(cancellationToken), maxBytes, what);
        try
        {
            return await System.Text.Json.JsonSerializer.DeserializeAsync<T>(body, ProtocolJson.Strict, cancellationToken)
                ?? throw new IOException("The higher system sent an empty answer.");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException)
        {
            throw new MalformedAnswerException(what, e);
        }
    }

    private static async Task ThrowAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string errorId = response.StatusCode.ToString();
        string detail = $"The higher system answered {(int)response.StatusCode} {response.ReasonPhrase}.";
        try
        {
            await using var body = new LimitedReadStream(await response.Content.ReadAsStreamAsync(cancellationToken), ProtocolLimits.MaxProblemBytes, "a refusal");
            var problem = await System.Text.Json.JsonSerializer.DeserializeAsync<ProblemBody>(body, ProtocolJson.Options, cancellationToken);
            if (problem is not null)
            {
                errorId = problem.ErrorId ?? problem.Title ?? errorId;
                detail = problem.Detail ?? detail;
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NotSupportedException or InvalidOperationException or AnswerTooLargeException)
        {
            // Not a problem-details body; the status line says enough.
        }
        throw new HigherSystemException(response.StatusCode, errorId, detail);
    }

    private sealed record ProblemBody(string? Title, string? Detail, string? ErrorId);

    public void Dispose() => _http.Dispose();
}
