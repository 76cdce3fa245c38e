using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Tests.Agent;
using JP1Dist.Tests.Host;
using Microsoft.EntityFrameworkCore;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Security;

/// <summary>
/// A fake relay as its own process: someone holding a relay token runs a `jp1dist relay` of their own and, with the
/// credential it received, tries to pull a real relay (and the client below it) under itself, to place a host below the
/// real relay, to read the real client's work and to report a forged result for it. A second relay process claims the
/// real relay's name. Every attempt is refused, and the real relay's client keeps installing through it.
/// </summary>
public sealed class FakeRelayProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private AgentHarness _h = null!;
    private readonly List<NodeProcess> _relays = [];

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var relay in _relays)
        {
            output.WriteLine("--- relay\n" + await relay.StopAsync());
            relay.Dispose();
        }
        await _h.DisposeAsync();
    }

    private string State(string name) => Path.Combine(_h.Folder.Root, "state-" + name);

    private async Task<string> TokenAsync(bool relay) =>
        (await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("fake relay test", Relay: relay))).Token!;

    private NodeProcess StartRelay(string name, string token)
    {
        var relay = NodeProcess.Start(null, "relay", "--manager", _h.Url, "--token", token, "--listen", "http://127.0.0.1:0", "--name", name, "--state", State(name));
        _relays.Add(relay);
        return relay;
    }

    private async Task<int> AgentOnceAsync(string name, string url, string? token)
    {
        string[] arguments = ["agent", "--once", "--manager", url, "--name", name, "--state", State(name), .. token is null ? Array.Empty<string>() : ["--token", token]];
        using var agent = NodeProcess.Start(null, arguments);
        var exitCode = await agent.WaitAsync(TimeSpan.FromSeconds(90));
        output.WriteLine($"--- agent {name} (exit {exitCode})\n{await agent.OutputAsync()}");
        return exitCode;
    }

    private async Task<DistHost> RegisteredAsync(string name, NodeProcess relay) =>
        await Eventually.ForAsync(async () => (await _h.Folder.Engine.Hosts.ListAsync(name)).SingleOrDefault(), $"{name} registered", relay);

    private string ManagerLog() =>
        string.Join("\n", Directory.GetFiles(_h.Folder.Engine.Folder.LogsPath, "manager-*.log").Select(f =>
        {
            using var stream = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return new StreamReader(stream).ReadToEnd();
        }));

    /// <summary>The host id and credential a relay process saved for itself.</summary>
    private static (Guid HostId, string Credential) IdentityOf(string state)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(state, "agent", "agent.json")));
        return (json.RootElement.GetProperty("hostId").GetGuid(), json.RootElement.GetProperty("credential").GetString()!);
    }

    [Fact]
    public async Task A_fake_relay_process_cannot_pull_the_real_relay_or_its_client_nor_act_for_them()
    {
        await _h.PackageAsync("App");
        var relayToken = await TokenAsync(relay: true);
        var clientToken = await TokenAsync(relay: false);

        var realRelay = StartRelay("relay-real", relayToken);
        var real = await RegisteredAsync("relay-real", realRelay);
        Assert.Equal(0, await AgentOnceAsync("pc-below", real.RelayUrl!, clientToken));
        var client = (await _h.Folder.Engine.Hosts.ListAsync("pc-below")).Single();
        Assert.Equal("relay-real", client.HigherSystem);

        // The fake relay: a relay process of its own, admitted by a (stolen) relay token.
        var fakeRelay = StartRelay("relay-fake", relayToken);
        var fake = await RegisteredAsync("relay-fake", fakeRelay);
        await Eventually.ForAsync(() => Task.FromResult(File.Exists(Path.Combine(State("relay-fake"), "agent", "agent.json"))), "the fake relay saved its identity");
        var (fakeId, fakeCredential) = IdentityOf(State("relay-fake"));
        Assert.Equal(fake.Id, fakeId);

        using var http = new HttpClient { BaseAddress = new Uri(_h.Url), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", $"{fakeId}.{fakeCredential}");
        async Task<(HttpStatusCode Status, string? ErrorId)> RegisterBelowFakeAsync(string name, string? kind, string token, Guid parent)
        {
            var registration = new RegisterRequest(token, name, "Linux", "6.1", "X64", ["127.0.0.1"], null, "1.0") { Kind = kind };
            using var response = await http.PostAsJsonAsync(ApiPaths.RelayRegister, new RelayRegisterRequest(registration, parent), ProtocolJson.Options);
            var body = await response.Content.ReadAsStringAsync();
            output.WriteLine($"relay/register {name} → {(int)response.StatusCode} {body}");
            return (response.StatusCode, response.IsSuccessStatusCode ? null : JsonDocument.Parse(body).RootElement.GetProperty("errorId").GetString());
        }

        // It cannot pull the real relay, nor the real relay's client, under itself by their names...
        Assert.Equal((HttpStatusCode.Conflict, "HostNameTaken"), await RegisterBelowFakeAsync("relay-real", "Relay", relayToken, fakeId));
        Assert.Equal((HttpStatusCode.Conflict, "HostNameTaken"), await RegisterBelowFakeAsync("PC-BELOW", null, clientToken, fakeId));
        // ...nor place a host below the real relay.
        Assert.Equal((HttpStatusCode.Forbidden, "HostNotBelowRelay"), await RegisterBelowFakeAsync("pc-planted", null, clientToken, real.Id));
        Assert.Empty(await _h.Folder.Engine.Hosts.ListAsync("pc-planted"));

        // A second relay process claiming the real relay's name with a valid relay token is not registered as it.
        // (Whether the refused process keeps trying or ends is the relay's own business; the manager's answer is what counts.)
        StartRelay("RELAY-REAL", relayToken);
        await Eventually.ForAsync(() => Task.FromResult(ManagerLog().Contains("Registration of RELAY-REAL from 127.0.0.1 refused: HostNameTaken", StringComparison.Ordinal)),
            "the manager refused the impostor relay");
        Assert.False(File.Exists(Path.Combine(State("RELAY-REAL"), "agent", "agent.json")));
        Assert.Equal(real.Id, (await _h.Folder.Engine.Hosts.ListAsync("relay-real")).Single().Id);

        // The client's work goes to the real relay only; the fake relay neither sees it nor can report for it.
        await _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["pc-below"]));
        await _h.Distribution.DispatchAsync((await _h.Folder.Engine.Jobs.StartAsync("J")).ExecutionId, default);
        var snapshot = (await http.GetFromJsonAsync<RelayWorkResponse>(ApiPaths.RelayWork + "?wait=0", ProtocolJson.Options))!;
        Assert.DoesNotContain(snapshot.Items, i => i.HostId == client.Id);
        Guid workItemId;
        await using (var db = _h.Folder.Engine.Database.CreateContext())
        {
            workItemId = await db.Targets.Where(t => t.HostId == client.Id).Select(t => t.WorkItemId).SingleAsync();
        }
        var forged = new RelayBatch([new RelayBatchEntry(1, client.Id, new ReportRequest(workItemId, nameof(TargetStatus.Succeeded), ExitCode: 0))]);
        using (var answer = await http.PostAsJsonAsync(ApiPaths.RelayBatch, forged, ProtocolJson.Options))
        {
            var results = (await answer.Content.ReadFromJsonAsync<RelayBatchResponse>(ProtocolJson.Options))!;
            Assert.Equal("HostNotBelowRelay", results.Results.Single().ErrorId);
        }
        Assert.NotEqual(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);

        // The real relay and its client are untouched, and the client installs through the real relay.
        Assert.Equal(("relay-real", real.Id), ((await _h.Folder.Engine.Hosts.ListAsync("pc-below")).Single().HigherSystem, (await _h.Folder.Engine.Hosts.ListAsync("relay-real")).Single().Id));
        await Eventually.ForAsync(async () =>
        {
            Assert.Equal(0, await AgentOnceAsync("pc-below", real.RelayUrl!, null));
            return (await _h.StatusAsync("J")).Status == TargetStatus.Succeeded;
        }, "the client installed through the real relay");
        Assert.Equal(1, _h.InstallCount());
        Assert.False(realRelay.Process.HasExited);
    }
}
