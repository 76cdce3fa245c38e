using JP1Dist.Contracts;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Managers;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>Malformed or unauthorized requests get a problem-details answer naming what was wrong, and change nothing.</summary>
public sealed class AgentApiTests : IAsyncLifetime, IDisposable
{
    private readonly TestFolder _folder = new();
    private WebApplication? _app;
    private HttpClient? _client;

    public async Task InitializeAsync()
    {
        _app = ManagerHost.Build(new ManagerOptions { ListenUrl = "http://127.0.0.1:0", Home = _folder.Engine.Folder.Root, QuietConsole = true });
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.BoundUrl()), Timeout = TimeSpan.FromSeconds(30) };
    }

    private async Task<(HttpStatusCode Status, string ErrorId)> ProblemAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadFromJsonAsync<Dictionary<string, object>>();
        return (response.StatusCode, body?["errorId"]?.ToString() ?? "");
    }

    [Fact]
    public async Task A_malformed_registration_is_a_400_and_registers_nothing()
    {
        using var content = new StringContent("{ not json", Encoding.UTF8, "application/json");
        var (status, errorId) = await ProblemAsync(await _client!.PostAsync(ApiPaths.Register, content));
        Assert.Equal((HttpStatusCode.BadRequest, "RequestBodyInvalid"), (status, errorId));
        Assert.Empty(await _folder.Engine.Hosts.ListAsync());
    }

    [Fact]
    public async Task A_registration_with_a_bad_token_is_a_401()
    {
        var request = new RegisterRequest("wrong", "pc-1", "Linux", "6", "X64", [], null, "1");
        var (status, errorId) = await ProblemAsync(await _client!.PostAsJsonAsync(ApiPaths.Register, request, ProtocolJson.Options));
        Assert.Equal((HttpStatusCode.Unauthorized, "EnrollmentTokenInvalid"), (status, errorId));
        Assert.Empty(await _folder.Engine.Hosts.ListAsync());
    }

    [Fact]
    public async Task Changed_facts_are_recorded_and_admit_the_host_into_an_id_group()
    {
        var host = await _folder.RegisterHostAsync("pc-1");
        await _folder.Engine.IdGroups.CreateAsync("Big", null);
        await _folder.Engine.IdGroups.SetPolicyAsync("Big", [new Dictionary<string, IReadOnlyList<string>> { ["MinMemoryMB"] = ["16384"] }]);
        Assert.Empty((await _folder.Engine.IdGroups.ListAsync("Big"))[0].Members);

        var facts = new FactsReport("Linux", "6.1", "X64", ["10.0.0.1"], null, "1.0",
            new HostInventory(8, 32768, [new VolumeFact("/", 1000, 500)], [], [new SoftwareFact("curl", "8.0", "dpkg")]));
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client!.PostAsJsonAsync(ApiPaths.Facts, facts, ProtocolJson.Options)).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Post, ApiPaths.Facts) { Content = JsonContent.Create(facts, options: ProtocolJson.Options) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{host.HostId}.{host.Credential}");
        Assert.Equal(HttpStatusCode.OK, (await _client!.SendAsync(request)).StatusCode);

        Assert.Equal(["pc-1"], (await _folder.Engine.IdGroups.ListAsync("Big"))[0].HostNames);
        var inventory = (await _folder.Engine.Inventory.ListAsync("pc-1"))[0];
        Assert.Equal((8, 32768L, "curl"), (inventory.CpuCount, inventory.MemoryMB, inventory.Software.Single().Name));
    }

    private HttpRequestMessage As(RegisterResponse host, HttpMethod method, string path, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{host.HostId}.{host.Credential}");
        if (body is not null)
        {
            request.Content = body as HttpContent ?? JsonContent.Create(body, body.GetType(), options: ProtocolJson.Options);
        }
        return request;
    }

    [Fact]
    public async Task Relay_endpoints_refuse_clients_hosts_outside_the_relay_and_bad_batches_and_change_nothing()
    {
        var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relays", Relay: true));
        var relay = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, "relay-1", "Linux", "6", "X64", [], null, "1") { Kind = "Relay" });
        var other = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, "relay-2", "Linux", "6", "X64", [], null, "1") { Kind = "Relay" });
        var client = await _folder.RegisterHostAsync("pc-1");

        // A client is not a relay.
        Assert.Equal((HttpStatusCode.Forbidden, "HostNotRelay"), await ProblemAsync(await _client!.SendAsync(As(client, HttpMethod.Get, ApiPaths.RelayWork + "?wait=0"))));
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client.GetAsync(ApiPaths.RelayWork)).StatusCode);

        // A relay registers hosts only below itself.
        var clientToken = (await _folder.Engine.Hosts.NewEnrollmentTokenAsync("clients")).Token!;
        var outside = new RelayRegisterRequest(new RegisterRequest(clientToken, "pc-2", "Linux", "6", "X64", [], null, "1"), other.HostId);
        Assert.Equal((HttpStatusCode.Forbidden, "HostNotBelowRelay"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayRegister, outside))));
        Assert.Empty(await _folder.Engine.Hosts.ListAsync("pc-2"));
        // Nor can it pull an enrolled host (or relay) under itself by its name: a name belongs to its credential.
        foreach (var (name, kind, usedToken) in new[] { ("pc-1", (string?)null, clientToken), ("relay-2", "Relay", token.Token!) })
        {
            var pull = new RelayRegisterRequest(new RegisterRequest(usedToken, name, "Linux", "6", "X64", [], null, "1") { Kind = kind }, relay.HostId);
            Assert.Equal((HttpStatusCode.Conflict, "HostNameTaken"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayRegister, pull))));
        }
        Assert.Equal(client.HostId, await _folder.Engine.Hosts.AuthenticateAsync(client.HostId, client.Credential));
        Assert.Equal(DistHost.ManagerHigherSystem, (await _folder.Engine.Hosts.ListAsync("pc-1")).Single().HigherSystem);
        Assert.Equal(DistHost.ManagerHigherSystem, (await _folder.Engine.Hosts.ListAsync("relay-2")).Single().HigherSystem);
        using var garbage = new StringContent("{ not json", Encoding.UTF8, "application/json");
        Assert.Equal((HttpStatusCode.BadRequest, "RequestBodyInvalid"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayRegister, garbage))));

        // Batches: an entry for a host outside the relay is refused on its own; too many entries refuse the batch.
        var facts = new FactsReport("Windows", "10.0", "X64", ["10.9.9.9"], null, "1", null);
        var batch = new RelayBatch([new RelayBatchEntry(1, client.HostId, Facts: facts), new RelayBatchEntry(2, relay.HostId, SeenAt: DateTime.UtcNow)]);
        var answer = await (await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayBatch, batch))).Content.ReadFromJsonAsync<RelayBatchResponse>(ProtocolJson.Options);
        Assert.Equal("HostNotBelowRelay", answer!.Results[0].ErrorId);
        Assert.Null(answer.Results[1].ErrorId);
        Assert.Equal("Linux", (await _folder.Engine.Hosts.ListAsync("pc-1")).Single().OS);
        var tooMany = new RelayBatch(Enumerable.Range(1, ProtocolLimits.MaxBatchEntries + 1).Select(i => new RelayBatchEntry(i, relay.HostId, SeenAt: DateTime.UtcNow)).ToList());
        Assert.Equal((HttpStatusCode.BadRequest, "RequestFieldInvalid"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayBatch, tooMany))));
    }

    [Fact]
    public async Task Only_relays_get_certificates_for_themselves_and_the_relays_below_them_and_bad_requests_get_none()
    {
        var token = (await _folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relays", Relay: true))).Token!;
        var relay = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token, "relay-1", "Linux", "6", "X64", [], null, "1") { Kind = "Relay" });
        var other = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token, "relay-2", "Linux", "6", "X64", [], null, "1") { Kind = "Relay" });
        var below = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token, "relay-3", "Linux", "6", "X64", [], null, "1") { Kind = "Relay" }, relay.HostId);
        var client = await _folder.RegisterHostAsync("pc-1");
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = JP1Dist.Protocol.Tls.RelayCertificates.Request(key, "relay-1", ["relay-1.example"], [IPAddress.Loopback]);
        var signingKey = JP1Dist.Protocol.Signing.Fingerprints.OfPublicKey(_folder.Engine.Signer.PublicKey)!;

        Assert.Equal(HttpStatusCode.Unauthorized, (await _client!.PostAsJsonAsync(ApiPaths.RelayCertificate, request, ProtocolJson.Options)).StatusCode);
        Assert.Equal((HttpStatusCode.Forbidden, "HostNotRelay"), await ProblemAsync(await _client!.SendAsync(As(client, HttpMethod.Post, ApiPaths.RelayCertificate, request))));
        Assert.Equal((HttpStatusCode.Forbidden, "HostNotBelowRelay"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayCertificate, request with { HostId = other.HostId }))));
        Assert.Equal((HttpStatusCode.Forbidden, "HostNotBelowRelay"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayCertificate, request with { HostId = client.HostId }))));
        Assert.Equal((HttpStatusCode.BadRequest, "RequestFieldInvalid"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayCertificate, request with { DnsNames = ["*.example"] }))));
        Assert.Equal((HttpStatusCode.BadRequest, "CertificateRequestInvalid"), await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayCertificate, request with { SigningRequest = "AAAA" }))));
        using var huge = new StringContent("{\"signingRequest\":\"" + new string('A', (int)ProtocolLimits.MaxCertificateRequestBodyBytes) + "\"}", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayCertificate, huge))).StatusCode);

        foreach (var (caller, forHost, name) in new[] { (relay, (Guid?)null, "relay-1"), (relay, below.HostId, "relay-3"), (below, null, "relay-3") })
        {
            var response = await _client.SendAsync(As(caller, HttpMethod.Post, ApiPaths.RelayCertificate, request with { HostId = forHost }));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var issued = (await response.Content.ReadFromJsonAsync<RelayCertificateResponse>(ProtocolJson.Options))!;
            using var leaf = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(Convert.FromBase64String(issued.Certificate));
            using var issuer = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(Convert.FromBase64String(issued.IssuerCertificate));
            var check = JP1Dist.Protocol.Tls.RelayCertificates.Check(leaf, [issuer], [signingKey], DateTime.UtcNow);
            Assert.True(check.Accepted, check.Refusal);
            Assert.Contains("CN=" + name, leaf.Subject, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Work_content_and_reports_need_a_valid_credential()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await _client!.GetAsync(ApiPaths.Work)).StatusCode);
        using var forged = new HttpRequestMessage(HttpMethod.Get, ApiPaths.Work);
        forged.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{Guid.NewGuid()}.guess");
        var (status, errorId) = await ProblemAsync(await _client.SendAsync(forged));
        Assert.Equal((HttpStatusCode.Unauthorized, "CredentialInvalid"), (status, errorId));
    }

    [Fact]
    public async Task A_registered_agent_gets_problems_for_bad_reports_and_hashes()
    {
        var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync("api");
        var registration = await (await _client!.PostAsJsonAsync(ApiPaths.Register,
            new RegisterRequest(token.Token!, "pc-1", "Linux", "6", "X64", ["127.0.0.1"], null, "1"), ProtocolJson.Options))
            .Content.ReadFromJsonAsync<RegisterResponse>(ProtocolJson.Options);
        _client!.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", $"{registration!.HostId}.{registration.Credential}");

        var empty = await _client!.GetFromJsonAsync<WorkResponse>(ApiPaths.Work + "?wait=0", ProtocolJson.Options);
        Assert.Empty(empty!.Items);
        Assert.Equal((HttpStatusCode.BadRequest, "ContentHashInvalid"), await ProblemAsync(await _client.GetAsync(ApiPaths.ContentPrefix + "not-a-hash")));
        Assert.Equal((HttpStatusCode.NotFound, "ContentNotFound"), await ProblemAsync(await _client.GetAsync(ApiPaths.ContentPrefix + new string('a', 64))));
        using var garbage = new StringContent("[]", Encoding.UTF8, "application/json");
        Assert.Equal((HttpStatusCode.BadRequest, "RequestBodyInvalid"), await ProblemAsync(await _client.PostAsync(ApiPaths.Report, garbage)));
        var unknown = new ReportRequest(Guid.NewGuid(), "Succeeded", 0);
        Assert.Equal((HttpStatusCode.NotFound, "WorkItemNotFound"), await ProblemAsync(await _client.PostAsJsonAsync(ApiPaths.Report, unknown, ProtocolJson.Options)));
        // Refused by the request checks before the engine sees it: the field is named (RequestValidatorTests has the rest).
        var badStatus = new ReportRequest(Guid.NewGuid(), "Exploded");
        Assert.Equal((HttpStatusCode.BadRequest, "RequestFieldInvalid"), await ProblemAsync(await _client.PostAsJsonAsync(ApiPaths.Report, badStatus, ProtocolJson.Options)));
    }

    [Fact]
    public async Task Metrics_count_content_bytes_served_and_requests_by_endpoint()
    {
        var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync("metrics");
        var registration = await (await _client!.PostAsJsonAsync(ApiPaths.Register,
            new RegisterRequest(token.Token!, "pc-m", "Linux", "6", "X64", ["127.0.0.1"], null, "1"), ProtocolJson.Options))
            .Content.ReadFromJsonAsync<RegisterResponse>(ProtocolJson.Options);
        var file = _folder.WriteFile("blob.bin", new string('z', 5000));
        var hash = await _folder.Engine.Content.AddFileAsync(file);
        using var request = new HttpRequestMessage(HttpMethod.Get, ApiPaths.ContentPrefix + hash);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{registration!.HostId}.{registration.Credential}");
        request.Headers.Range = new RangeHeaderValue(100, 1099);
        using var range = await _client!.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
        Assert.Equal(1000, (await range.Content.ReadAsByteArrayAsync()).Length);
        // Two polls with nothing for the host: the first looks at the database, the second is answered from that look.
        for (var poll = 0; poll < 2; poll++)
        {
            using var work = new HttpRequestMessage(HttpMethod.Get, ApiPaths.Work + "?wait=0");
            work.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{registration.HostId}.{registration.Credential}");
            using var answer = await _client.SendAsync(work);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        string text = "";
        for (var attempt = 0; attempt < 50 && !text.Contains("jp1dist_content_bytes_served_total 1000", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(100); // the counter is added when the response has completed
            text = await _client.GetStringAsync("/metrics");
        }
        Assert.Contains("jp1dist_content_bytes_served_total 1000", text, StringComparison.Ordinal);
        Assert.Contains("jp1dist_connected_agents 0", text, StringComparison.Ordinal);
        Assert.Contains("jp1dist_poll_looks_total{look=\"made\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("jp1dist_poll_looks_total{look=\"skipped\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("jp1dist_targets{status=\"Succeeded\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("http_requests_received_total", text, StringComparison.Ordinal);
        Assert.DoesNotContain("http_requests_in_progress", text, StringComparison.Ordinal); // jp1dist_connected_agents counts the polls
        Assert.Contains("endpoint=\"/api/v1/content/{sha256}\"", text, StringComparison.Ordinal);
    }

    private async Task<double> ContentBytesServedAsync()
    {
        var line = (await _client!.GetStringAsync("/metrics")).Split('\n').First(l => l.StartsWith("jp1dist_content_bytes_served_total ", StringComparison.Ordinal));
        return double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_whole_transfer_of_many_writes_counts_every_byte_and_a_range_counts_its_length()
    {
        // The count stops at the first sign of a cut (a flush that finds the socket gone): a transfer that completes,
        // written in many pieces, must count all of them.
        var registration = await (await _client!.PostAsJsonAsync(ApiPaths.Register,
            new RegisterRequest((await _folder.Engine.Hosts.NewEnrollmentTokenAsync("whole")).Token!, "pc-whole", "Linux", "6", "X64", ["127.0.0.1"], null, "1"),
            ProtocolJson.Options)).Content.ReadFromJsonAsync<RegisterResponse>(ProtocolJson.Options);
        const int size = 8 * 1024 * 1024 + 12_345;
        var file = Path.Combine(_folder.Root, "whole.bin");
        var bytes = new byte[size];
        new Random(7).NextBytes(bytes);
        await File.WriteAllBytesAsync(file, bytes);
        var hash = await _folder.Engine.Content.AddFileAsync(file);
        var before = await ContentBytesServedAsync();

        async Task<byte[]> GetAsync(RangeHeaderValue? range)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, ApiPaths.ContentPrefix + hash);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{registration!.HostId}.{registration.Credential}");
            request.Headers.Range = range;
            using var response = await _client!.SendAsync(request);
            response.EnsureSuccessStatusCode();
            return await response.Content.ReadAsByteArrayAsync();
        }
        // Counted as each write is taken, which may come just after the client has the bytes: wait a little for it.
        async Task<double> CountedAsync(double expected)
        {
            await Eventually.ForAsync(async () => await ContentBytesServedAsync() - before >= expected, $"{expected} bytes counted", limit: TimeSpan.FromSeconds(10));
            return await ContentBytesServedAsync() - before;
        }
        Assert.Equal(bytes, await GetAsync(null));
        Assert.Equal(size, await CountedAsync(size));
        Assert.Equal(bytes.AsSpan(1_000_000, 3_000_000).ToArray(), await GetAsync(new RangeHeaderValue(1_000_000, 3_999_999)));
        Assert.Equal(size + 3_000_000, await CountedAsync(size + 3_000_000));
    }

    [Fact]
    public async Task A_transfer_cut_short_counts_the_bytes_that_went_out_not_the_range_it_asked_for()
    {
        var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync("cut");
        var registration = await (await _client!.PostAsJsonAsync(ApiPaths.Register,
            new RegisterRequest(token.Token!, "pc-cut", "Linux", "6", "X64", ["127.0.0.1"], null, "1"), ProtocolJson.Options))
            .Content.ReadFromJsonAsync<RegisterResponse>(ProtocolJson.Options);
        const int size = 64 * 1024 * 1024;
        var file = Path.Combine(_folder.Root, "big.bin");
        await using (var stream = File.Create(file))
        {
            stream.SetLength(size);
        }
        var hash = await _folder.Engine.Content.AddFileAsync(file);
        // The client's receive buffer fixed at 64 KB: left to the kernel's autotuning, loopback grows it up to
        // net.ipv4.tcp_rmem's maximum (32 MB on some machines), and that much really does go out before the cut.
        using var smallWindow = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (connection, cancellation) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = 64 * 1024 };
                try
                {
                    await socket.ConnectAsync(connection.DnsEndPoint, cancellation);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        { BaseAddress = _client!.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using (var request = new HttpRequestMessage(HttpMethod.Get, ApiPaths.ContentPrefix + hash))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{registration!.HostId}.{registration.Credential}");
            using var response = await smallWindow.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(size, response.Content.Headers.ContentLength);
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            var read = 0;
            while (read < 1024 * 1024)
            {
                read += await body.ReadAsync(buffer);
            }
            // The client goes away after a megabyte: the connection is dropped with most of the file unsent.
        }
        // Counted when the server's write fails, which a loaded machine may take seconds to get to: up to 30 s.
        double served = 0;
        for (var attempt = 0; attempt < 300; attempt++)
        {
            await Task.Delay(100);
            var line = (await _client.GetStringAsync("/metrics")).Split('\n').First(l => l.StartsWith("jp1dist_content_bytes_served_total ", StringComparison.Ordinal));
            var now = double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            if (now == served && now > 0)
            {
                break; // settled
            }
            served = now;
        }
        // What went out: the megabyte read, and what the sockets' buffers took on the way (the server's send buffer is
        // autotuned up to net.ipv4.tcp_wmem's maximum, 4 MB by default); not the 64 MB announced.
        Assert.InRange(served, 1024 * 1024, size / 2);
    }

    [Fact]
    public void The_node_logs_no_request_starts_so_a_request_carries_no_activity_nor_logging_scope_and_warnings_still_log()
    {
        // ASP.NET Core gives each request an Activity and a logging scope while its request logger is on at any level.
        var loggers = _app!.Services.GetRequiredService<ILoggerFactory>();
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Critical));
        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").IsEnabled(LogLevel.Warning));
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("JP1Dist.Serving").IsEnabled(LogLevel.Information));
        // Serilog is the one provider (no console's or Event Log's beside it), and a category's logger is made once:
        // ASP.NET Core's results ask for theirs on every response.
        Assert.All(_app.Services.GetServices<ILoggerProvider>(), provider => Assert.IsType<Serilog.Extensions.Logging.SerilogLoggerProvider>(provider));
        Assert.Single(_app.Services.GetServices<ILoggerProvider>());
        Assert.Same(loggers.CreateLogger("Microsoft.AspNetCore.Http.Result.OkObjectResult"), loggers.CreateLogger("Microsoft.AspNetCore.Http.Result.OkObjectResult"));
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Dispose();
    }

    public void Dispose()
    {
        _client?.Dispose();
        _folder.Dispose();
    }
}
