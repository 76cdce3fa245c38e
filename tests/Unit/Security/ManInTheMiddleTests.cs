using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Tests.Agent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Security;

/// <summary>
/// A man in the middle between real agent processes and the manager: a proxy on 127.0.0.1 that passes everything and
/// rewrites the work answers. It holds genuinely signed pieces (an older manifest of the same package, another package's
/// manifest, another host's work item) and tries each on an agent; every attempt is refused, nothing is installed, and
/// the agent goes on installing what the manager really sent once the proxy stops tampering.
/// </summary>
public sealed class ManInTheMiddleTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private AgentHarness _h = null!;
    private WebApplication _proxy = null!;
    private string _proxyUrl = "";
    private string _token = "";
    private readonly HttpClient _upstream = new();
    /// <summary>Every work item the proxy saw, by the host it was served to.</summary>
    private readonly ConcurrentDictionary<Guid, List<WorkItem>> _seen = new();
    /// <summary>How the proxy rewrites a host's work items; null passes them.</summary>
    private Func<Guid, IReadOnlyList<WorkItem>, IReadOnlyList<WorkItem>>? _tamper;

    public async Task InitializeAsync()
    {
        _h = await AgentHarness.StartAsync();
        _token = (await _h.Folder.Engine.Hosts.NewEnrollmentTokenAsync("mitm")).Token!;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _proxy = builder.Build();
        _proxy.Run(ForwardAsync);
        await _proxy.StartAsync();
        _proxyUrl = _proxy.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        await _proxy.StopAsync();
        await _proxy.DisposeAsync();
        await _h.DisposeAsync();
    }

    public void Dispose() => _upstream.Dispose();

    private async Task ForwardAsync(HttpContext context)
    {
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), _h.Url.TrimEnd('/') + context.Request.Path + context.Request.QueryString);
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
            var host = Guid.Parse(context.Request.Headers.Authorization.ToString()["Bearer ".Length..].Split('.')[0]);
            var work = (await response.Content.ReadFromJsonAsync<WorkResponse>(ProtocolJson.Options))!;
            _seen.GetOrAdd(host, _ => []).AddRange(work.Items);
            var items = _tamper?.Invoke(host, work.Items) ?? work.Items;
            await context.Response.WriteAsJsonAsync(new WorkResponse(items), ProtocolJson.Options);
            return;
        }
        await response.Content.CopyToAsync(context.Response.Body);
    }

    /// <summary>Runs `jp1dist agent --once` through the proxy; returns its output.</summary>
    private async Task<string> AgentOnceAsync(string name) => (await AgentOnceAsync(name, _proxyUrl, "agent-" + name)).Output;

    /// <summary>Runs `jp1dist agent --once` against <paramref name="url"/> with its state in <paramref name="state"/>; returns its exit code and output.</summary>
    private async Task<(int ExitCode, string Output)> AgentOnceAsync(string name, string url, string state)
    {
        var start = new ProcessStartInfo(Path.Combine(Repository.Root, "out", "jp1dist", "jp1dist"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in new[] { "agent", "--once", "--manager", url, "--token", _token, "--name", name, "--state", Path.Combine(_h.Folder.Root, state) })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"jp1dist agent --once for {name} did not finish within 90 s.");
        }
        var text = await stdout + await stderr;
        output.WriteLine($"--- agent {name} (exit {process.ExitCode})\n{text}");
        return (process.ExitCode, text);
    }

    private async Task<Guid> HostIdAsync(string name) => (await _h.Folder.Engine.Hosts.ListAsync(name)).Single().Id;

    private async Task<DistJobStatus> RunJobAsync(string job, string package, string version, string host)
    {
        await _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest(job, package, version, [host]));
        var execution = await _h.Folder.Engine.Jobs.StartAsync(job);
        await _h.Distribution.DispatchAsync(execution.ExecutionId, default);
        await AgentOnceAsync(host);
        return await _h.StatusAsync(job);
    }

    [Fact]
    public async Task Swapped_stripped_and_replayed_signed_pieces_are_refused_and_the_real_work_still_installs()
    {
        await _h.PackageAsync("App", version: "1.0");
        await _h.PackageAsync("App", version: "2.0");
        await _h.PackageAsync("Other", version: "1.0");
        await AgentOnceAsync("pc-a");
        await AgentOnceAsync("pc-b");
        var pcA = await HostIdAsync("pc-a");

        // Genuine, signed pieces the attacker collects: App 1.0 and Other 1.0 served to pc-a.
        Assert.Equal(TargetStatus.Succeeded, (await RunJobAsync("old", "App", "1.0", "pc-a")).Status);
        Assert.Equal(TargetStatus.Succeeded, (await RunJobAsync("other", "Other", "1.0", "pc-a")).Status);
        var oldItem = _seen[pcA].First(i => i.JobName == "old");
        var otherItem = _seen[pcA].First(i => i.JobName == "other");
        Assert.Equal(2, _h.InstallCount());

        // An older signed manifest of the same package in the 2.0 job (a rollback), another package's manifest, the
        // settings stripped: each is refused by pc-b, reported Failed, and nothing is fetched or installed.
        var cases = new (string Job, Func<WorkItem, WorkItem> Swap, string Reason)[]
        {
            ("rollback", i => i with { Manifest = oldItem.Manifest, ManifestSignature = oldItem.ManifestSignature }, "signed for another manifest"),
            ("swap", i => i with { Manifest = otherItem.Manifest, ManifestSignature = otherItem.ManifestSignature }, "signed for another manifest"),
            ("strip", i => i with { JobSettings = null, JobSettingsSignature = null }, "no signed job settings"),
        };
        foreach (var (job, swap, reason) in cases)
        {
            _tamper = (_, items) => items.Select(swap).ToList();
            var status = await RunJobAsync(job, "App", "2.0", "pc-b");
            Assert.Equal(TargetStatus.Failed, status.Status);
            Assert.Contains(reason, status.Message, StringComparison.Ordinal);
            Assert.Equal(2, _h.InstallCount());
        }

        // pc-a's own item replayed to pc-b (the ticket and settings as pc-a received them): refused, not installed,
        // and pc-a's result is untouched.
        await _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest("replay", "App", "2.0", ["pc-b"]));
        await _h.Distribution.DispatchAsync((await _h.Folder.Engine.Jobs.StartAsync("replay")).ExecutionId, default);
        _tamper = (_, _) => [oldItem];
        var text = await AgentOnceAsync("pc-b");
        Assert.Contains("signed for host", text, StringComparison.Ordinal);
        Assert.Equal(2, _h.InstallCount());
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("old")).Status);

        // The attacker goes away: the real work is still there and installs.
        _tamper = null;
        await AgentOnceAsync("pc-b");
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("replay")).Status);
        Assert.Equal(3, _h.InstallCount());
    }

    [Fact]
    public async Task A_second_agent_process_cannot_take_over_an_enrolled_name_and_the_first_keeps_installing()
    {
        await _h.PackageAsync("App");
        Assert.Equal(0, (await AgentOnceAsync("pc-x", _h.Url, "first")).ExitCode);
        var enrolled = (await _h.Folder.Engine.Hosts.ListAsync("pc-x")).Single();

        // Another computer (its own state folder, the same valid token) claims the name, directly and through the proxy.
        foreach (var url in new[] { _h.Url, _proxyUrl })
        {
            var (exitCode, text) = await AgentOnceAsync("PC-X", url, "impostor");
            Assert.NotEqual(0, exitCode);
            Assert.Contains("is enrolled with another credential", text, StringComparison.Ordinal);
        }
        var host = (await _h.Folder.Engine.Hosts.ListAsync("pc-x")).Single();
        Assert.Equal((enrolled.Id, "pc-x", enrolled.LastSeen <= host.LastSeen), (host.Id, host.Name, true));

        // The real host still receives its work and installs it.
        await _h.Folder.Engine.Jobs.CreateAsync(new NewJobRequest("J", "App", null, ["pc-x"]));
        await _h.Distribution.DispatchAsync((await _h.Folder.Engine.Jobs.StartAsync("J")).ExecutionId, default);
        Assert.Equal(0, (await AgentOnceAsync("pc-x", _h.Url, "first")).ExitCode);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("J")).Status);
        Assert.Equal(1, _h.InstallCount());
        var log = string.Join("\n", Directory.GetFiles(_h.Folder.Engine.Folder.LogsPath, "manager-*.log").Select(File.ReadAllText));
        Assert.Contains("Registration of PC-X from 127.0.0.1 refused: HostNameTaken", log, StringComparison.Ordinal);
    }
}
