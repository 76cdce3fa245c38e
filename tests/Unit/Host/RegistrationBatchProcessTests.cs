using System.Net;
using System.Text;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Many registrations at once through a real `jp1dist manager` process over HTTP: they share write transactions, and each
/// is still decided exactly as alone (a token's use limit, the name check, refusals that change nothing).
/// </summary>
public sealed class RegistrationBatchProcessTests : IAsyncLifetime
{
    private ManagerProcess _manager = null!;

    public async Task InitializeAsync() => _manager = await ManagerProcess.StartAsync([]);

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    private static RegisterRequest Request(string token, string name, string address = "10.0.0.9") =>
        new(token, name, "Linux", "6.1", "X64", [address], null, "1.0");

    /// <summary>The answer's status, the problem's error id (null on success) and the registration's answer; a connection of its own, as an agent's.</summary>
    private async Task<(HttpStatusCode Status, string? ErrorId, RegisterResponse? Answer)> RegisterAsync(RegisterRequest request)
    {
        using var http = new HttpClient { BaseAddress = new Uri(_manager.Url), Timeout = TimeSpan.FromSeconds(60) };
        using var body = new StringContent(JsonSerializer.Serialize(request, ProtocolJson.Options), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(ApiPaths.Register, body);
        var text = await response.Content.ReadAsStringAsync();
        if (response.IsSuccessStatusCode)
        {
            return (response.StatusCode, null, JsonSerializer.Deserialize<RegisterResponse>(text, ProtocolJson.Options));
        }
        using var problem = JsonDocument.Parse(text);
        return (response.StatusCode, problem.RootElement.TryGetProperty("errorId", out var id) ? id.GetString() : null, null);
    }

    /// <summary>Sends every registration at once (none waits for another's answer) and returns the outcomes in order.</summary>
    private async Task<(HttpStatusCode Status, string? ErrorId, RegisterResponse? Answer)[]> AllAtOnceAsync(IReadOnlyList<RegisterRequest> requests)
    {
        using var start = new ManualResetEventSlim();
        var sends = requests.Select(r => Task.Run(() =>
        {
            start.Wait();
            return RegisterAsync(r);
        })).ToList();
        start.Set();
        return await Task.WhenAll(sends);
    }

    [Fact]
    public async Task A_token_with_fewer_uses_than_registrations_at_once_admits_exactly_its_limit()
    {
        var hosts = _manager.Engine.Hosts;
        var token = (await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("five", MaxUses: 5))).Token!;
        var names = Enumerable.Range(1, 40).Select(i => $"pc-{i:00}").ToList();

        var outcomes = await AllAtOnceAsync(names.Select(n => Request(token, n)).ToList());

        var admitted = names.Zip(outcomes).Where(p => p.Second.Status == HttpStatusCode.OK).ToList();
        Assert.Equal(5, admitted.Count);
        Assert.All(outcomes.Where(o => o.Status != HttpStatusCode.OK), o => Assert.Equal((HttpStatusCode.Unauthorized, "EnrollmentTokenUsedUp"), (o.Status, o.ErrorId)));
        Assert.Equal(admitted.Select(p => p.First).Order(), (await hosts.ListAsync()).Select(h => h.Name).Order());
        foreach (var (_, outcome) in admitted)
        {
            Assert.Equal(outcome.Answer!.HostId, await hosts.AuthenticateAsync(outcome.Answer.HostId, outcome.Answer.Credential));
        }
        var listed = Assert.Single(await hosts.ListEnrollmentTokensAsync());
        Assert.Equal((5, "UsedUp"), (listed.UseCount, listed.Status));
    }

    [Fact]
    public async Task Refused_registrations_among_good_ones_change_nothing_and_fail_none_of_the_others()
    {
        var engine = _manager.Engine;
        // Every host the policy admits joins the ID group as it registers: the policies run inside the shared transaction too.
        await engine.IdGroups.CreateAsync("Everyone", null);
        await engine.IdGroups.SetPolicyAsync("Everyone", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["*"] }]);
        var enrolledToken = (await engine.Hosts.NewEnrollmentTokenAsync("enrolled")).Token!;
        var (status, _, enrolled) = await RegisterAsync(Request(enrolledToken, "pc-enrolled", "10.0.0.1"));
        Assert.Equal(HttpStatusCode.OK, status);
        var token = (await engine.Hosts.NewEnrollmentTokenAsync("good")).Token!;
        var expired = (await engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("brief", ExpiresIn: TimeSpan.FromMilliseconds(1)))).Token!;
        await Task.Delay(20);
        var removed = await engine.Hosts.NewEnrollmentTokenAsync("removed");
        await engine.Hosts.RemoveEnrollmentTokenAsync(removed.Id);

        var good = Enumerable.Range(1, 30).Select(i => Request(token, $"pc-{i:00}")).ToList();
        var bad = new (RegisterRequest Request, HttpStatusCode Status, string ErrorId)[]
        {
            (Request(token, "PC-ENROLLED"), HttpStatusCode.Conflict, "HostNameTaken"),
            (Request(removed.Token!, "pc-removed-token"), HttpStatusCode.Unauthorized, "EnrollmentTokenInvalid"),
            (Request(expired, "pc-expired-token"), HttpStatusCode.Unauthorized, "EnrollmentTokenExpired"),
            (Request("not-a-token", "pc-no-token"), HttpStatusCode.Unauthorized, "EnrollmentTokenInvalid"),
            (Request(token, "relay-client-token") with { Kind = "Relay", RelayUrl = "http://127.0.0.1:22401/" }, HttpStatusCode.Unauthorized, "EnrollmentTokenNotForRelays"),
        };
        // Two new hosts of one name at once: one is enrolled, the other refused as it would be one after the other.
        var twins = new[] { Request(token, "pc-twin", "10.0.0.21"), Request(token, "PC-TWIN", "10.0.0.22") };
        var requests = good.Take(15).Concat(bad.Select(b => b.Request)).Concat(twins).Concat(good.Skip(15)).ToList();

        var outcomes = await AllAtOnceAsync(requests);
        var byRequest = requests.Zip(outcomes).ToDictionary(p => p.First, p => p.Second);

        Assert.All(good, r => Assert.Equal(HttpStatusCode.OK, byRequest[r].Status));
        foreach (var (request, expectedStatus, errorId) in bad)
        {
            Assert.Equal((expectedStatus, errorId), (byRequest[request].Status, byRequest[request].ErrorId));
        }
        var twinOutcomes = twins.Select(t => byRequest[t]).ToList();
        Assert.Single(twinOutcomes, o => o.Status == HttpStatusCode.OK);
        Assert.Single(twinOutcomes, o => (o.Status, o.ErrorId) == (HttpStatusCode.Conflict, "HostNameTaken"));
        var twinWinner = twins[twinOutcomes.FindIndex(o => o.Status == HttpStatusCode.OK)];

        var listed = await engine.Hosts.ListAsync();
        Assert.Equal(good.Select(r => r.Name).Append("pc-enrolled").Append(twinWinner.Name).Order(StringComparer.OrdinalIgnoreCase),
            listed.Select(h => h.Name).Order(StringComparer.OrdinalIgnoreCase));
        Assert.Equal(twinWinner.Addresses, listed.Single(h => h.Name == twinWinner.Name).Addresses);
        // The enrolled host kept its credential and facts; only admitted registrations counted a use of the token.
        Assert.Equal(enrolled!.HostId, await engine.Hosts.AuthenticateAsync(enrolled.HostId, enrolled.Credential));
        Assert.Equal(["10.0.0.1"], listed.Single(h => h.Name == "pc-enrolled").Addresses);
        var tokens = await engine.Hosts.ListEnrollmentTokensAsync();
        Assert.Equal(good.Count + 1, tokens.Single(t => t.Description == "good").UseCount);
        Assert.Equal(0, tokens.Single(t => t.Description == "brief").UseCount);
        Assert.Equal(listed.Select(h => h.Name).Order(StringComparer.OrdinalIgnoreCase),
            (await engine.IdGroups.ListAsync("Everyone")).Single().Members.Select(m => m.HostName).Order(StringComparer.OrdinalIgnoreCase));
    }
}
