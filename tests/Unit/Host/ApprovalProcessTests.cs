using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Approval, replacement and revocation through real `jp1dist` processes on 127.0.0.1: a manager, agents and a relay,
/// with the administrator's side done through the engine on the manager's data folder, as a cmdlet does (it nudges the
/// running manager).
/// </summary>
public sealed class ApprovalProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-approval-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<NodeProcess> _nodes = [];
    private NodeProcess? _manager;
    private DistEngine _engine = null!;
    private string _url = "";

    public async Task InitializeAsync()
    {
        var home = Path.Combine(_root, "home");
        _engine = TestDatabase.Engine(home);
        _manager = NodeProcess.Start(null, "manager", "--listen", "http://127.0.0.1:0", "--home", home);
        _url = (await Eventually.ForAsync(async () => (await _engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == _manager.Process.Id && m.IsAlive),
            "the manager announced itself", _manager)).Url;
        var package = Path.Combine(_root, "package");
        Directory.CreateDirectory(package);
        // Each install writes the host name and the staging folder, which lies in the installing agent's state folder.
        File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME|$(pwd)\" >> \"$1\"\n");
    }

    private string Log(string name) => Path.Combine(_root, $"installed-{name}.log");

    private string[] Installs(string name) => File.Exists(Log(name)) ? File.ReadAllLines(Log(name)) : [];

    private string State(string name) => Path.Combine(_root, "agent-" + name);

    private async Task<string> TokenAsync(bool approval, bool relay = false) =>
        (await _engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("process test", Relay: relay, RequireApproval: approval))).Token!;

    private NodeProcess StartAgent(string name, string token, string? state = null, string? url = null)
    {
        var node = NodeProcess.Start(null, "agent", "--manager", url ?? _url, "--token", token, "--name", name, "--state", state ?? State(name));
        _nodes.Add(node);
        return node;
    }

    /// <summary>A package that logs to the job's own file, and the job, executed (the running manager dispatches it).</summary>
    private async Task PackageAndJobAsync(string job, string destination, DestinationType type = DestinationType.Host)
    {
        await _engine.Packages.CreateAsync(new NewPackageRequest(job + "App", "1.0", Path.Combine(_root, "package"), "install.sh", [Log(job)]));
        await _engine.Jobs.CreateAsync(new NewJobRequest(job, job + "App", null, [destination], DestinationType: type));
        await _engine.Jobs.StartAsync(job);
    }

    private async Task<IReadOnlyList<DistJobStatus>> StatusAsync(string job) => await _engine.Jobs.GetStatusAsync(new JobStatusQuery(job));

    [Fact]
    public async Task An_agent_admitted_by_an_approval_token_gets_no_work_until_approved_and_a_denied_one_stops()
    {
        // A job for every host, now and later: an ID group whose policy admits any name, executed before the agent exists.
        await _engine.IdGroups.CreateAsync("Everyone", null);
        await _engine.IdGroups.SetPolicyAsync("Everyone", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["*"] }]);
        await PackageAndJobAsync("Everyone", "Everyone", DestinationType.IdGroup);

        var token = await TokenAsync(approval: true);
        var agent = StartAgent("pc-wait", token);
        var pending = await Eventually.ForAsync(async () => (await _engine.Hosts.ListPendingAsync("pc-wait")).SingleOrDefault(), "the registration waits", agent);
        Assert.False(pending.ReplacesHost);
        Assert.Empty(await _engine.Hosts.ListAsync("pc-wait"));
        Assert.Empty(await StatusAsync("Everyone")); // the pending host is no target, and in no group
        Assert.Empty((await _engine.IdGroups.ListAsync("Everyone")).Single().Members);
        var identity = await SavedIdentityAsync(State("pc-wait"), agent, pending: true);
        Assert.Equal(pending.Id, identity.HostId);
        Assert.False(agent.Process.HasExited);

        await _engine.Hosts.ApproveAsync("pc-wait", replace: false);
        await Eventually.ForAsync(async () => (await StatusAsync("Everyone")).SingleOrDefault() is { Status: TargetStatus.Succeeded }, "the approved agent installed", agent);
        Assert.Equal(["pc-wait"], Installs("Everyone").Select(l => l.Split('|')[0]));
        Assert.False(ReadIdentity(State("pc-wait")).Pending);

        // A second agent with the same token, refused: it is told at its next question and stops, without registering again.
        var denied = StartAgent("pc-intruder", token);
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListPendingAsync("pc-intruder")).SingleOrDefault(), "the second registration waits", denied);
        await _engine.Hosts.DenyAsync("pc-intruder");
        var exitCode = await denied.WaitAsync(TimeSpan.FromSeconds(90));
        var text = await denied.OutputAsync();
        output.WriteLine(text);
        Assert.Equal(3, exitCode);
        Assert.Contains("revoked", text, StringComparison.Ordinal);
        Assert.Contains("pc-intruder", text, StringComparison.Ordinal);
        Assert.Contains(State("pc-intruder"), text, StringComparison.Ordinal);
        Assert.Empty(await _engine.Hosts.ListAsync("pc-intruder"));
        Assert.Empty(await _engine.Hosts.ListPendingAsync());

        // Started again, the denied agent stops at once too, and --once ends the same way.
        var again = await RunOnceAsync("pc-intruder", token);
        Assert.Equal(3, again.ExitCode);
        Assert.Empty(await _engine.Hosts.ListPendingAsync());

        // --once while waiting: no error, the wait said once per run, and a second run asks again with the same identity.
        for (var run = 0; run < 2; run++)
        {
            var once = await RunOnceAsync("pc-once", token);
            Assert.Equal(0, once.ExitCode);
            Assert.Contains("waits for an administrator's approval", once.Output, StringComparison.Ordinal);
            Assert.Single(await _engine.Hosts.ListPendingAsync("pc-once"));
        }
        Assert.Equal(ReadIdentity(State("pc-once")).HostId, (await _engine.Hosts.ListPendingAsync("pc-once")).Single().Id);

        // The manager's log names each waiting registration, the approval and the denial.
        var log = await _manager!.StopAsync();
        output.WriteLine(log);
        Assert.Contains("Host pc-wait (" + pending.Id + ") registered with a token that requires approval", log, StringComparison.Ordinal);
        Assert.Contains("Host pc-wait (" + pending.Id + ") was approved", log, StringComparison.Ordinal);
        Assert.Contains("Host pc-intruder (", log, StringComparison.Ordinal);
        Assert.Contains("Credential of host pc-intruder", log, StringComparison.Ordinal);
        Assert.Contains("(enrollment denied)", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_computer_registering_an_enrolled_name_waits_as_a_replacement_and_takes_over_only_with_Replace()
    {
        var first = StartAgent("pc-r", await TokenAsync(approval: false), State("pc-r-old"));
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-r")).SingleOrDefault(), "the first computer registered", first);
        var enrolledId = (await _engine.Hosts.ListAsync("pc-r")).Single().Id;

        var second = StartAgent("pc-r", await TokenAsync(approval: true), State("pc-r-new"));
        var pending = await Eventually.ForAsync(async () => (await _engine.Hosts.ListPendingAsync("pc-r")).SingleOrDefault(), "the replacement waits", second);
        Assert.True(pending.ReplacesHost);
        Assert.Equal(enrolledId, pending.Id); // the existing host's id, with a new credential
        Assert.NotEqual((await SavedIdentityAsync(State("pc-r-old"))).Credential, (await SavedIdentityAsync(State("pc-r-new"), second, pending: true)).Credential);

        // The enrolled computer keeps working meanwhile.
        await PackageAndJobAsync("Before", "pc-r");
        await Eventually.ForAsync(async () => (await StatusAsync("Before")).Single() is { Status: TargetStatus.Succeeded }, "the first computer installed", first);
        Assert.StartsWith(State("pc-r-old"), Assert.Single(Installs("Before")).Split('|')[1], StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<DistException>(() => _engine.Hosts.ApproveAsync("pc-r", replace: false));
        Assert.Equal("HostReplaceRequired", refused.ErrorId);
        Assert.False(first.Process.HasExited);

        await _engine.Hosts.ApproveAsync("pc-r", replace: true);
        // The old computer is refused from then on and stops; the new one is the host, with the same id and history.
        var oldExit = await first.WaitAsync(TimeSpan.FromSeconds(90));
        var oldText = await first.OutputAsync();
        output.WriteLine(oldText);
        Assert.Equal(3, oldExit);
        Assert.Contains("replaced", oldText, StringComparison.Ordinal);
        var host = (await _engine.Hosts.ListAsync("pc-r")).Single();
        Assert.Equal(enrolledId, host.Id);
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync("Before")).Single().Status);

        await PackageAndJobAsync("After", "pc-r");
        await Eventually.ForAsync(async () => (await StatusAsync("After")).Single() is { Status: TargetStatus.Succeeded }, "the new computer installed", second);
        Assert.StartsWith(State("pc-r-new"), Assert.Single(Installs("After")).Split('|')[1], StringComparison.Ordinal);

        var log = await _manager!.StopAsync();
        Assert.Contains("to replace the enrolled host of that name", log, StringComparison.Ordinal);
        Assert.Contains("and replaces the enrolled host of that name", log, StringComparison.Ordinal);
        Assert.Contains("(replaced by an approved computer)", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remove_with_Revoke_is_refused_at_once_below_a_relay_and_at_the_manager_and_the_agents_stop()
    {
        var relayState = Path.Combine(_root, "relay-1");
        var relay = NodeProcess.Start(null, "relay", "--manager", _url, "--token", await TokenAsync(approval: false, relay: true),
            "--listen", "http://127.0.0.1:0", "--name", "relay-1", "--state", relayState);
        _nodes.Add(relay);
        var relayUrl = (await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("relay-1")).SingleOrDefault(), "the relay registered", relay)).RelayUrl!;

        var token = await TokenAsync(approval: false);
        var below = StartAgent("pc-below", token, url: relayUrl);
        var direct = StartAgent("pc-direct", token);
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-below")).SingleOrDefault(), "the agent below the relay registered", below);
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-direct")).SingleOrDefault(), "the agent at the manager registered", direct);
        var belowIdentity = await SavedIdentityAsync(State("pc-below"), below);
        var directIdentity = await SavedIdentityAsync(State("pc-direct"), direct);
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(relayUrl, belowIdentity)).Status);
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(_url, directIdentity)).Status);

        await _engine.Hosts.RemoveAsync("pc-direct", force: true, revoke: true);
        // The nudge reached the manager before the removal returned: refused from the next request.
        var atManager = await CallAsync(_url, directIdentity);
        Assert.Equal((HttpStatusCode.Unauthorized, RevokedCredential.ErrorId), (atManager.Status, atManager.ErrorId));

        await _engine.Hosts.RemoveAsync("pc-below", force: true, revoke: true);
        // The relay learns it from its work snapshot, whose poll the revocation answers; no restart.
        await Eventually.ForAsync(async () => (await CallAsync(relayUrl, belowIdentity)).ErrorId == RevokedCredential.ErrorId, "the relay refuses the revoked credential", relay);
        Assert.Equal(HttpStatusCode.Unauthorized, (await CallAsync(relayUrl, belowIdentity)).Status);
        // Registering again through the relay with the revoked identity is refused too.
        var register = await RegisterAgainAsync(relayUrl, token, "pc-below", belowIdentity);
        Assert.Equal((HttpStatusCode.Unauthorized, RevokedCredential.ErrorId), register);

        foreach (var (agent, name) in new[] { (below, "pc-below"), (direct, "pc-direct") })
        {
            var exitCode = await agent.WaitAsync(TimeSpan.FromSeconds(90));
            var text = await agent.OutputAsync();
            output.WriteLine(text);
            Assert.Equal(3, exitCode);
            Assert.Contains($"host '{name}'", text, StringComparison.Ordinal);
            Assert.Contains("new enrollment token", text, StringComparison.Ordinal);
        }
        Assert.False(relay.Process.HasExited);
        Assert.Empty(await _engine.Hosts.ListAsync("pc-*"));
    }

    private sealed record Identity(Guid HostId, string Credential, bool Pending);

    /// <summary>The identity an agent saved (waiting for it: the manager knows the registration before the agent has read the answer).</summary>
    private static async Task<Identity> SavedIdentityAsync(string state, NodeProcess? node = null, bool pending = false) =>
        await Eventually.ForAsync(() => Task.FromResult(File.Exists(Path.Combine(state, "agent.json")) && ReadIdentity(state).Pending == pending ? ReadIdentity(state) : null),
            "the agent saved its identity", node);

    private static Identity ReadIdentity(string state)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(state, "agent.json")));
        var root = document.RootElement;
        return new Identity(root.GetProperty("hostId").GetGuid(), root.GetProperty("credential").GetString()!,
            root.TryGetProperty("pending", out var pending) && pending.GetBoolean());
    }

    /// <summary>An agent's poll with its credential (no wait): the status and the problem's error id, if any.</summary>
    private static async Task<(HttpStatusCode Status, string? ErrorId)> CallAsync(string url, Identity identity)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, ApiPaths.Work + "?wait=0");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{identity.HostId}.{identity.Credential}");
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await ErrorIdAsync(response));
    }

    private static async Task<(HttpStatusCode, string?)> RegisterAgainAsync(string url, string token, string name, Identity identity)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        var registration = new RegisterRequest(EnrollmentTokenText.TryParse(token)!.Secret, name, "Linux", "6.1", "X64", ["127.0.0.1"], null, "1.0",
            HostId: identity.HostId, Credential: identity.Credential);
        using var response = await http.PostAsync(ApiPaths.Register, new StringContent(JsonSerializer.Serialize(registration, ProtocolJson.Options),
            System.Text.Encoding.UTF8, "application/json"));
        return (response.StatusCode, await ErrorIdAsync(response));
    }

    private static async Task<string?> ErrorIdAsync(HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode)
        {
            return null;
        }
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return problem.RootElement.TryGetProperty("errorId", out var id) ? id.GetString() : null;
    }

    private async Task<(int ExitCode, string Output)> RunOnceAsync(string name, string token)
    {
        using var node = NodeProcess.Start(null, "agent", "--manager", _url, "--token", token, "--name", name, "--state", State(name), "--once");
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(120));
        var text = await node.OutputAsync();
        output.WriteLine($"--once {name} → {exitCode}\n{text}");
        return (exitCode, text);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            output.WriteLine(await node.StopAsync());
            node.Dispose();
        }
        if (_manager is not null)
        {
            output.WriteLine(await _manager.StopAsync());
            _manager.Dispose();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
