using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using JP1Dist.Client;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>A manager process whose admin API takes 6 requests a minute per key (one more every 10 s).</summary>
public sealed class RateLimitedManager : IAsyncLifetime
{
    public ManagerProcess Manager { get; private set; } = null!;

    public async Task InitializeAsync() => Manager = await ManagerProcess.StartAsync(["--admin-requests-per-minute", "6"]);

    public async Task DisposeAsync() => await Manager.DisposeAsync();
}

/// <summary>
/// The admin API's request limit through a real manager process: a key over its limit is answered 429 with Retry-After and
/// problem details while other keys are served; refused keys are limited by their source address, and an address over
/// that limit cannot learn whether a key is right; the client waits what the manager asks and tries again, within bounds.
/// </summary>
public sealed class AdminRateLimitProcessTests(RateLimitedManager fixture) : IClassFixture<RateLimitedManager>
{
    private ManagerProcess Manager => fixture.Manager;

    private async Task<string> KeyAsync(string name) =>
        (await Manager.Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest(name + Guid.NewGuid().ToString("N")[..6], DistRole.Reader))).Key!;

    /// <summary>A client whose connections come from <paramref name="from"/> (a loopback address: 127.0.0.2 is another source).</summary>
    private HttpClient Client(string key, string from = "127.0.0.1")
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri(Manager.Url) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(AdminApiPaths.Scheme, key);
        return client;
    }

    private static async Task<(HttpStatusCode Status, TimeSpan? RetryAfter, JsonElement Problem)> SessionAsync(HttpClient client)
    {
        using var response = await client.GetAsync(AdminApiPaths.Base + "/" + AdminApiPaths.Session);
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.Headers.RetryAfter?.Delta, JsonDocument.Parse(body).RootElement.Clone());
    }

    /// <summary>Asks until the manager answers 429 (at most 100 times: the limit is 6); the answers before it, and the 429.</summary>
    private static async Task<(List<HttpStatusCode> Before, (HttpStatusCode Status, TimeSpan? RetryAfter, JsonElement Problem) Refusal)> ExhaustAsync(HttpClient client)
    {
        var before = new List<HttpStatusCode>();
        for (var i = 0; i < 100; i++)
        {
            var answer = await SessionAsync(client);
            if (answer.Status == HttpStatusCode.TooManyRequests)
            {
                return (before, answer);
            }
            before.Add(answer.Status);
        }
        throw new InvalidOperationException($"100 requests and no 429: {string.Join(", ", before)}");
    }

    /// <summary>
    /// Uses up the key's requests, then makes <paramref name="call"/>, which must be refused. A permit comes every 10 s and may
    /// come between the two (the call is then answered, or its Retry-After is short enough to wait for): then the key is used
    /// up again, at most three times in all.
    /// </summary>
    private static async Task<DistException> RefusedAfterExhaustingAsync(HttpClient raw, Func<Task> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            await ExhaustAsync(raw);
            try
            {
                await call();
            }
            catch (DistException e)
            {
                return e;
            }
            Assert.True(attempt < 3, "the call was answered each of three times right after the key's requests were used up");
        }
    }

    [Fact]
    public async Task A_key_over_its_limit_is_answered_429_with_Retry_After_and_problem_details_while_another_key_is_served()
    {
        using var busy = Client(await KeyAsync("busy"));
        var (before, refusal) = await ExhaustAsync(busy);
        Assert.True(before.Count >= 6, $"only {before.Count} requests were served");
        Assert.All(before, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.NotNull(refusal.RetryAfter);
        Assert.InRange(refusal.RetryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        Assert.Equal((AdminRateLimitErrorId, "NotAvailable", 429), (refusal.Problem.GetProperty("errorId").GetString(), refusal.Problem.GetProperty("kind").GetString(),
            refusal.Problem.GetProperty("status").GetInt32()));
        Assert.Contains("at most 6 a minute", refusal.Problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var other = Client(await KeyAsync("other"));
        Assert.Equal(HttpStatusCode.OK, (await SessionAsync(other)).Status);
    }

    [Fact]
    public async Task The_pieces_of_an_upload_are_not_counted_against_the_key()
    {
        var key = (await Manager.Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("uploader" + Guid.NewGuid().ToString("N")[..6], DistRole.Administrator))).Key!;
        using var client = Client(key);
        var (_, refusal) = await ExhaustAsync(client);
        Assert.Equal(HttpStatusCode.TooManyRequests, refusal.Status);
        using var piece = new ByteArrayContent([1, 2, 3]);
        piece.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        piece.Headers.TryAddWithoutValidation(PackageUploadProtocol.DigestHeader, PackageUploadProtocol.Digest(System.Security.Cryptography.SHA256.HashData([1, 2, 3])));
        using var answer = await client.PutAsync(AdminApiPaths.Base + "/" + AdminApiPaths.Fill(AdminApiPaths.UploadFile, new string('a', 32), "0") + "?offset=0", piece);
        // Past the limit and the key check: the manager looked for the upload.
        Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
        Assert.Contains("UploadNotFound", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refused_keys_are_limited_by_address_and_that_address_then_cannot_tell_a_right_key_from_a_wrong_one()
    {
        var right = await KeyAsync("right");
        var wrong = right[..^4] + (right.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");
        using var guesser = Client(wrong, from: "127.0.0.2");
        var (before, refusal) = await ExhaustAsync(guesser);
        Assert.True(before.Count >= 6, $"only {before.Count} guesses were answered");
        Assert.All(before, s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal(AdminRateLimitErrorId, refusal.Problem.GetProperty("errorId").GetString());

        using var rightFromThere = Client(right, from: "127.0.0.2");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await SessionAsync(rightFromThere)).Status);
        using var rightFromElsewhere = Client(right);
        Assert.Equal(HttpStatusCode.OK, (await SessionAsync(rightFromElsewhere)).Status);
    }

    [Fact]
    public async Task The_client_waits_what_the_manager_asks_and_tries_again_within_its_bounds()
    {
        var key = await KeyAsync("patient");
        var principal = (await Manager.Engine.AccessKeys.ListAsync()).Single(k => key.Contains(k.KeyId, StringComparison.Ordinal)).Name;
        using var raw = Client(key);
        await ExhaustAsync(raw);
        using (var services = new RemoteServices(new AdminConnection(new Uri(Manager.Url), key, null)))
        {
            Assert.Equal(principal, (await services.WhoAmIAsync()).Principal);
        }

        using (var noRetry = new AdminConnection(new Uri(Manager.Url), key, null) { RateLimitRetries = 0 })
        {
            var e = await RefusedAfterExhaustingAsync(raw, () => noRetry.GetAsync<AdminSession>(AdminApiPaths.Session, CancellationToken.None));
            Assert.Equal((AdminRateLimitErrorId, DistErrorKind.NotAvailable), (e.ErrorId, e.Kind));
        }
        using (var impatient = new AdminConnection(new Uri(Manager.Url), key, null) { MaxRateLimitWait = TimeSpan.FromMilliseconds(500) })
        {
            var e = await RefusedAfterExhaustingAsync(raw, () => impatient.GetAsync<AdminSession>(AdminApiPaths.Session, CancellationToken.None));
            Assert.Equal(AdminRateLimitErrorId, e.ErrorId);
        }
        using (var waiting = new AdminConnection(new Uri(Manager.Url), key, null))
        using (var stop = new CancellationTokenSource())
        {
            var call = waiting.GetAsync<AdminSession>(AdminApiPaths.Session, stop.Token);
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }
    }

    private const string AdminRateLimitErrorId = "RequestRateLimited";
}
