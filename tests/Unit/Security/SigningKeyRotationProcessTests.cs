using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Security;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Tests.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Security;

/// <summary>
/// A signing key rotation through real `jp1dist` processes on 127.0.0.1: a manager, a relay, an agent directly below the
/// manager (through a proxy that can add work items to its answers) and an agent below the relay, all running while the
/// key is replaced through the engine Update-DistSigningKey calls (another process than the manager). Work made after the
/// rotation installs everywhere; every node saves the announcement; after the (short) grace period work still installs
/// with the new key alone, while a work item signed by the old key is refused, and one signed by the new key, added the
/// same way, is installed.
/// </summary>
public sealed class SigningKeyRotationProcessTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(45);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-rotate-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<NodeProcess> _nodes = [];
    private readonly HttpClient _upstream = new();
    private readonly ConcurrentQueue<WorkItem> _inject = new();
    private readonly ConcurrentDictionary<Guid, bool> _injected = new();
    private DistEngine _engine = null!;
    private WebApplication _proxy = null!;
    private string _managerUrl = "";
    private string _proxyUrl = "";

    private string Home => Path.Combine(_root, "home");
    private string Log => Path.Combine(_root, "installed.log");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _engine = TestDatabase.Engine(Home);
        var manager = Start("manager", "--listen", "http://127.0.0.1:0", "--home", Home);
        _managerUrl = (await Eventually.ForAsync(async () => (await _engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == manager.Process.Id && m.IsAlive),
            "the manager announced itself", manager, Wait)).Url;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _proxy = builder.Build();
        _proxy.Run(ForwardAsync);
        await _proxy.StartAsync();
        _proxyUrl = _proxy.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        foreach (var (name, package) in new[] { ("AppBefore", "pkg-before"), ("AppAfter", "pkg-after") })
        {
            Directory.CreateDirectory(Path.Combine(_root, package));
            File.WriteAllText(Path.Combine(_root, package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes))
        {
            output.WriteLine(await node.StopAsync());
            node.Dispose();
        }
        await _proxy.StopAsync();
        await _proxy.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public void Dispose() => _upstream.Dispose();

    [Fact]
    public async Task Rotating_while_the_nodes_run_installs_new_work_with_the_new_key_and_refuses_the_old_key_after_the_grace_period()
    {
        var relayState = Path.Combine(_root, "relay");
        Start("relay", "--manager", _managerUrl, "--token", await TokenAsync(relay: true), "--listen", "http://127.0.0.1:0", "--name", "relay-r", "--state", relayState);
        var relayUrl = (await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("relay-r")).SingleOrDefault(), "the relay registered", limit: Wait)).RelayUrl!;
        var (stateA, stateB) = (Path.Combine(_root, "agent-a"), Path.Combine(_root, "agent-b"));
        Start("agent", "--manager", _proxyUrl, "--token", await TokenAsync(), "--name", "pc-a", "--state", stateA);
        Start("agent", "--manager", relayUrl, "--token", await TokenAsync(), "--name", "pc-b", "--state", stateB);
        var hostA = (await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-a")).SingleOrDefault(), "pc-a registered", limit: Wait)).Id;
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-b")).SingleOrDefault(), "pc-b registered below the relay", limit: Wait);
        await InstallAsync("Before", "AppBefore");
        var oldKey = ManifestSigner.Load(Path.Combine(Home, "keys", SigningKeyService.FirstKeyFileName));

        // Update-DistSigningKey's engine, in this process, while the manager, the relay and the agents run.
        var keys = await _engine.SigningKeys.RotateAsync(Grace);
        var newKey = ManifestSigner.Load(keys[0].File);
        var retiresAt = keys[1].RetiresAt!.Value.ToUniversalTime();
        await InstallAsync("After", "AppAfter");
        foreach (var (who, state) in new[] { ("pc-a", stateA), ("pc-b", stateB), ("relay-r", Path.Combine(relayState, "agent")) })
        {
            var identity = new AgentStateStore(state).LoadIdentity()!;
            Assert.True(AgentTrust.TrustedSigningKeys(identity, DateTime.UtcNow).Any(k => k.Fingerprint == newKey.Fingerprint), $"{who} saved the announcement");
            Assert.Equal(oldKey.PublicKey, identity.ManifestPublicKey);
        }

        // The grace period ends: the old key is trusted nowhere any more; work signed now installs with the new key alone.
        await Eventually.ForAsync(() => Task.FromResult(DateTime.UtcNow > retiresAt + TimeSpan.FromSeconds(1) ? (object)true : null), "the grace period ended", limit: Wait);
        foreach (var state in new[] { stateA, stateB })
        {
            Assert.Equal([newKey.Fingerprint], AgentTrust.TrustedSigningKeys(new AgentStateStore(state).LoadIdentity()!, DateTime.UtcNow).Select(k => k.Fingerprint));
        }
        await InstallAsync("Later", "AppAfter");

        // A work item signed by the old key reaches pc-a in a genuine answer: refused. The same signed by the new key: installed.
        var installsBefore = File.ReadAllLines(Log).Length;
        var manifest = await ManifestAsync("AppAfter");
        var byOldKey = Forge(oldKey, hostA, manifest);
        var byNewKey = Forge(newKey, hostA, manifest);
        _inject.Enqueue(byOldKey);
        _inject.Enqueue(byNewKey);
        var refused = await Eventually.ForAsync(() => Task.FromResult(Completed(stateA, byOldKey.WorkItemId)), "pc-a decided on the item signed by the old key", limit: Wait);
        Assert.Equal("Failed", refused.Status);
        Assert.Contains("not signed by this agent's manager", refused.Message, StringComparison.Ordinal);
        var accepted = await Eventually.ForAsync(() => Task.FromResult(Completed(stateA, byNewKey.WorkItemId)), "pc-a decided on the item signed by the new key", limit: Wait);
        Assert.Equal("Succeeded", accepted.Status);
        Assert.Equal(installsBefore + 1, File.ReadAllLines(Log).Length);
        Assert.Equal("pc-a AppAfter", File.ReadAllLines(Log)[^1]);
    }

    /// <summary>Creates a package (first time), a job for both agents, executes it, and waits until both installed it.</summary>
    private async Task InstallAsync(string job, string package)
    {
        if ((await _engine.Packages.ListAsync(package)).Count == 0)
        {
            await _engine.Packages.CreateAsync(new NewPackageRequest(package, "1.0", Path.Combine(_root, package == "AppBefore" ? "pkg-before" : "pkg-after"), "install.sh", [Log]));
        }
        await _engine.Jobs.CreateAsync(new NewJobRequest(job, package, null, ["pc-a", "pc-b"]));
        await _engine.Jobs.StartAsync(job);
        await Eventually.ForAsync(async () =>
        {
            var status = await _engine.Jobs.GetStatusAsync(new JobStatusQuery(job));
            Assert.DoesNotContain(status, s => s.Status is TargetStatus.Failed or TargetStatus.Canceled);
            return status.Count == 2 && status.All(s => s.Status == TargetStatus.Succeeded) ? status : null;
        }, $"job {job} installed on pc-a and pc-b", limit: Wait);
    }

    /// <summary>How long a step may take: a grace period of 45 s and a relay poll fit in it.</summary>
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(150);

    private async Task<string> TokenAsync(bool relay = false) =>
        (await _engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("rotation test", Relay: relay))).Token!;

    private async Task<string> ManifestAsync(string package)
    {
        await using var db = _engine.Database.CreateContext();
        return (await db.Packages.SingleAsync(p => p.Name == package)).ManifestJson;
    }

    /// <summary>A work item for the host signed by <paramref name="key"/>, as the manager would sign one: valid in every other respect.</summary>
    private WorkItem Forge(ManifestSigner key, Guid hostId, string manifestJson)
    {
        var manifest = JsonSerializer.Deserialize<PackageManifest>(manifestJson, ProtocolJson.Options)!;
        var id = Guid.NewGuid();
        var settings = JsonSerializer.Serialize(new JobSettings(id)
        {
            HostId = hostId, JobName = "Injected", PackageName = manifest.Name, PackageVersion = manifest.Version,
            ManifestSha256 = SignedWork.ManifestHash(manifestJson), ExpiresAt = DateTime.UtcNow.AddDays(1),
        }, ProtocolJson.Options);
        _injected[id] = true;
        return new WorkItem(id, "Injected", 1, manifestJson, key.Sign(manifestJson), settings, key.Sign(settings));
    }

    /// <summary>The result the agent stored for a ticket once it is completed; null before.</summary>
    private static TicketResult? Completed(string state, Guid workItemId)
    {
        var ticket = new AgentStateStore(state).LoadTicket(workItemId);
        return ticket is { Phase: TicketPhase.Completed } ? ticket.Result : null;
    }

    /// <summary>
    /// Passes everything between pc-a and the manager; adds the queued items to pc-a's next work answer and answers the
    /// reports on them itself (the manager never made them, so it would not know them).
    /// </summary>
    private async Task ForwardAsync(HttpContext context)
    {
        if (context.Request.Path == ApiPaths.Report)
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var report = JsonSerializer.Deserialize<ReportRequest>(buffer.ToArray(), ProtocolJson.Options);
            if (report is not null && _injected.ContainsKey(report.WorkItemId))
            {
                await context.Response.WriteAsJsonAsync(new ReportResponse(true, report.Status), ProtocolJson.Options);
                return;
            }
            context.Request.Body = new MemoryStream(buffer.ToArray());
            context.Request.ContentLength = buffer.Length;
        }
        var query = context.Request.Path == ApiPaths.Work && !_inject.IsEmpty ? "?wait=0" : context.Request.QueryString.ToString();
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), _managerUrl.TrimEnd('/') + context.Request.Path + query);
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new StreamContent(context.Request.Body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
        }
        foreach (var header in new[] { "Authorization", "Range" })
        {
            if (context.Request.Headers.TryGetValue(header, out var value))
            {
                request.Headers.TryAddWithoutValidation(header, value.ToString());
            }
        }
        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Content.Headers.Where(h => h.Key is "Content-Type" or "Content-Range"))
        {
            context.Response.Headers[header.Key] = header.Value.ToArray();
        }
        if (context.Request.Path == ApiPaths.Work && response.IsSuccessStatusCode)
        {
            var work = (await response.Content.ReadFromJsonAsync<WorkResponse>(ProtocolJson.Options, context.RequestAborted))!;
            var added = new List<WorkItem>();
            while (_inject.TryDequeue(out var item))
            {
                added.Add(item);
            }
            context.Response.Headers.ContentLength = null;
            await context.Response.WriteAsJsonAsync(work with { Items = [.. work.Items, .. added] }, ProtocolJson.Options, context.RequestAborted);
            return;
        }
        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    private NodeProcess Start(params string[] arguments)
    {
        var node = NodeProcess.Start(null, arguments);
        _nodes.Add(node);
        return node;
    }

}
