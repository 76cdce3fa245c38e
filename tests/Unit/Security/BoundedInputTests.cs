using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Managers;
using JP1Dist.Protocol;
using JP1Dist.Server.Manager;
using JP1Dist.Tests.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// The agent API refuses a request that breaks a limit with 400 RequestFieldInvalid, naming the field and the limit,
/// before the manager stores anything of it; bodies are capped per endpoint.
/// </summary>
public sealed class BoundedInputTests : IAsyncLifetime, IDisposable
{
    private readonly TestFolder _folder = new();
    private WebApplication? _app;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _app = ManagerHost.Build(new ManagerOptions { ListenUrl = "http://127.0.0.1:0", Home = _folder.Engine.Folder.Root, QuietConsole = true });
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.BoundUrl()), Timeout = TimeSpan.FromSeconds(30) };
    }

    private sealed record Problem(HttpStatusCode Status, string? ErrorId, string? Field, string? Limit, string? Detail);

    private static async Task<Problem> ProblemAsync(HttpResponseMessage response)
    {
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        string? Get(string name) => body.RootElement.TryGetProperty(name, out var value) ? value.GetString() : null;
        return new Problem(response.StatusCode, Get("errorId"), Get("field"), Get("limit"), Get("detail"));
    }

    private HttpRequestMessage As(RegisterResponse host, HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{host.HostId}.{host.Credential}");
        return request;
    }

    private static string FactsOf(DistHost host) =>
        $"{host.OS}|{host.OSVersion}|{host.Architecture}|{string.Join(",", host.Addresses)}|{host.MacAddress}|{host.AgentVersion}";

    private static JsonContent Json<T>(T body) => JsonContent.Create(body, options: ProtocolJson.Options);

    private static HostInventory Inventory(int software) =>
        new(8, 16_384, [new VolumeFact("/", 1000, 500)], [], Enumerable.Range(0, software).Select(i => new SoftwareFact($"pkg{i}", "1.0", "dpkg")).ToList());

    [Fact]
    public async Task A_registration_past_a_limit_is_refused_naming_the_field_and_registers_nothing()
    {
        var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync("bounds");
        var valid = new RegisterRequest(token.Token!, "pc-1", "Linux", "6.8", "X64", ["10.0.0.1"], null, "1.0", Inventory(20));

        var software = valid.Inventory!.Software.ToList();
        software[12] = software[12] with { Version = new string('9', ProtocolLimits.SoftwareVersionLength + 1) };
        var cases = new (RegisterRequest Request, string Field)[]
        {
            (valid with { Inventory = valid.Inventory with { Software = software } }, "inventory.software[12].version"),
            (valid with { Addresses = Enumerable.Repeat("10.0.0.1", ProtocolLimits.MaxAddresses + 1).ToList() }, "addresses"),
            (valid with { OSVersion = new string('x', 1024 * 1024) }, "osVersion"),
            (valid with { Inventory = Inventory(ProtocolLimits.MaxSoftware + 1) }, "inventory.software"),
            (valid with { Kind = "Relay", RelayUrl = "javascript:alert(1)" }, "relayUrl"),
            (valid with { Kind = "Relay", RelayUrl = "file:///etc/passwd" }, "relayUrl"),
            (valid with { Kind = "1" }, "kind"),
        };
        foreach (var (request, field) in cases)
        {
            var problem = await ProblemAsync(await _client.PostAsync(ApiPaths.Register, Json(request)));
            Assert.Equal((HttpStatusCode.BadRequest, "RequestFieldInvalid", field), (problem.Status, problem.ErrorId, problem.Field));
            Assert.False(string.IsNullOrEmpty(problem.Limit));
            Assert.Contains(field, problem.Detail, StringComparison.Ordinal);
        }
        Assert.Empty(await _folder.Engine.Hosts.ListAsync());
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            Assert.Equal(0, await db.EnrollmentTokens.Select(t => t.UseCount).SingleAsync());
        }

        var relayToken = (await _folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relays", Relay: true))).Token!;
        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync(ApiPaths.Register, Json(valid with { Token = relayToken, Kind = "Relay", RelayUrl = "http://relay-1:8080/" }))).StatusCode);
        Assert.Equal("http://relay-1:8080/", (await _folder.Engine.Hosts.ListAsync()).Single().RelayUrl);
    }

    [Fact]
    public async Task Values_of_the_wrong_type_or_form_are_refused_as_unreadable_with_their_path()
    {
        var host = await _folder.RegisterHostAsync("pc-1");
        var before = FactsOf((await _folder.Engine.Hosts.ListAsync("pc-1")).Single());
        var bodies = new (string Json, string? Field)[]
        {
            ("""{"os":"Linux","osVersion":"6","architecture":"X64","addresses":[],"agentVersion":"1","inventory":{"cpuCount":"8"}}""", "inventory.cpuCount"),
            ("""{"os":"Linux","osVersion":"6","architecture":"X64","addresses":[],"agentVersion":"1","inventory":{"cpuCount":1e400}}""", "inventory.cpuCount"),
            ("""{"os":["Linux"],"osVersion":"6","architecture":"X64","addresses":[],"agentVersion":"1"}""", "os"),
            ("""{"os":"Linux","osVersion":"6",""", null),
        };
        foreach (var (json, field) in bodies)
        {
            var problem = await ProblemAsync(await _client.SendAsync(As(host, HttpMethod.Post, ApiPaths.Facts, new StringContent(json, Encoding.UTF8, "application/json"))));
            Assert.Equal((HttpStatusCode.BadRequest, "RequestBodyInvalid"), (problem.Status, problem.ErrorId));
            if (field is not null)
            {
                Assert.Equal(field, problem.Field);
            }
        }
        Assert.Equal(before, FactsOf((await _folder.Engine.Hosts.ListAsync("pc-1")).Single()));
    }

    [Fact]
    public async Task Report_statuses_are_names_and_a_report_body_is_capped()
    {
        var host = await _folder.RegisterHostAsync("pc-1");
        foreach (var status in new[] { "3", "Failed, Succeeded", "Queued" })
        {
            var numeric = $$"""{"workItemId":"{{Guid.NewGuid()}}","status":"{{status}}"}""";
            var problem = await ProblemAsync(await _client.SendAsync(As(host, HttpMethod.Post, ApiPaths.Report, new StringContent(numeric, Encoding.UTF8, "application/json"))));
            Assert.Equal((HttpStatusCode.BadRequest, "RequestFieldInvalid", "status"), (problem.Status, problem.ErrorId, problem.Field));
        }

        var huge = new ReportRequest(Guid.NewGuid(), "Failed", 1, null, new string('x', (int)ProtocolLimits.MaxReportBodyBytes));
        var tooLarge = await ProblemAsync(await _client.SendAsync(As(host, HttpMethod.Post, ApiPaths.Report, Json(huge))));
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "RequestBodyTooLarge"), (tooLarge.Status, tooLarge.ErrorId));
    }

    [Fact]
    public async Task Long_poll_parameters_are_checked()
    {
        var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relay", Relay: true));
        var relay = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, "relay-1", "Linux", "6", "X64", [], null, "1") { Kind = "Relay" });
        foreach (var (path, field) in new[]
        {
            (ApiPaths.Work + "?wait=abc", "wait"), (ApiPaths.Work + "?wait=-1", "wait"), (ApiPaths.Work + "?wait=99999999999", "wait"),
            (ApiPaths.RelayWork + "?wait=1e3", "wait"), (ApiPaths.RelayWork + "?wait=0&etag=" + new string('a', ProtocolLimits.EtagLength + 1), "etag"),
            (ApiPaths.RelayWork + "?wait=0&etag=%0d%0aX-Injected:1", "etag"),
        })
        {
            var problem = await ProblemAsync(await _client.SendAsync(As(relay, HttpMethod.Get, path)));
            Assert.Equal((HttpStatusCode.BadRequest, "RequestFieldInvalid", field), (problem.Status, problem.ErrorId, problem.Field));
        }
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(As(relay, HttpMethod.Get, ApiPaths.Work + "?wait=0"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(As(relay, HttpMethod.Get, ApiPaths.RelayWork + "?wait=0&etag=abc"))).StatusCode);
    }

    [Fact]
    public async Task A_batch_entry_past_a_limit_is_refused_on_its_own_and_the_others_are_applied()
    {
        var token = await _folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relay", Relay: true));
        var relay = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, "relay-1", "Linux", "6", "X64", [], null, "1") { Kind = "Relay" });
        var clientToken = await _folder.Engine.Hosts.NewEnrollmentTokenAsync("clients");
        var below = await _folder.Engine.Hosts.RegisterAsync(new RegisterRequest(clientToken.Token!, "pc-1", "Linux", "6", "X64", [], null, "1"), relay.HostId);

        var bad = new FactsReport("Windows", "10.0", "X64", ["10.9.9.9"], null, "1", new HostInventory(-4, 1, [], [], []));
        var good = new FactsReport("Linux", "6.9", "X64", ["10.0.0.9"], null, "2", null);
        var batch = new RelayBatch([new RelayBatchEntry(1, below.HostId, Facts: bad), new RelayBatchEntry(2, below.HostId, Report: new ReportRequest(Guid.NewGuid(), "4"))]);
        var answer = await (await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayBatch, Json(batch)))).Content.ReadFromJsonAsync<RelayBatchResponse>(ProtocolJson.Options);
        Assert.Equal(["RequestFieldInvalid", "RequestFieldInvalid"], answer!.Results.Select(r => r.ErrorId));
        Assert.Contains("entries[0].facts.inventory.cpuCount", answer.Results[0].Message, StringComparison.Ordinal);
        Assert.Contains("entries[1].report.status", answer.Results[1].Message, StringComparison.Ordinal);
        Assert.Equal("6", (await _folder.Engine.Hosts.ListAsync("pc-1")).Single().OSVersion);

        var mixed = new RelayBatch([new RelayBatchEntry(3, below.HostId, Facts: bad), new RelayBatchEntry(4, below.HostId, Facts: good)]);
        answer = await (await _client.SendAsync(As(relay, HttpMethod.Post, ApiPaths.RelayBatch, Json(mixed)))).Content.ReadFromJsonAsync<RelayBatchResponse>(ProtocolJson.Options);
        Assert.Equal(["RequestFieldInvalid", null], answer!.Results.Select(r => r.ErrorId));
        Assert.Equal("6.9", (await _folder.Engine.Hosts.ListAsync("pc-1")).Single().OSVersion);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    public void Dispose() => _folder.Dispose();
}
