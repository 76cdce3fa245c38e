using System.Collections.Concurrent;
using System.Security.Cryptography;
using JP1Dist.Protocol;
using JP1Dist.Tests.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Relay;

/// <summary>
/// A real `jp1dist relay` process under a fake higher system on 127.0.0.1 that answers the relay's work poll and its
/// batches upward with every bad case (400, 409, 429, 500, an HTML page, `{}` where a message is required, a truncated
/// body): the relay never ends on them, says what it got, and takes work and passes its lower client's last-seen times
/// up again once the answers are good.
/// </summary>
public sealed class RelayHostileAnswerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly string[] Bad = ["400", "409", "429", "500", "html", "empty", "truncated"];
    private readonly ConcurrentQueue<string> _workModes = new(Bad);
    private readonly ConcurrentQueue<string> _batchModes = new(Bad);
    private readonly ConcurrentBag<string> _served = [];
    private readonly TaskCompletionSource<string> _relayUrl = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _goodWork;
    private int _goodBatches;
    private WebApplication _fake = null!;
    private string _url = "";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-relay-hostile-" + Guid.NewGuid().ToString("N")[..8]);

    public async Task InitializeAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var publicKey = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo());
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _fake = builder.Build();
        _fake.MapPost(ApiPaths.Register, async (HttpContext context) =>
        {
            var request = await context.Request.ReadFromJsonAsync<RegisterRequest>(ProtocolJson.Options);
            if (request?.RelayUrl is { } relayUrl)
            {
                _relayUrl.TrySetResult(relayUrl);
            }
            return Results.Json(new RegisterResponse(Guid.NewGuid(), "credential", publicKey), ProtocolJson.Options);
        });
        _fake.MapPost(ApiPaths.RelayRegister, () => Results.Json(new RegisterResponse(Guid.NewGuid(), "credential-below", publicKey), ProtocolJson.Options));
        _fake.MapPost(ApiPaths.Facts, () => Results.Json(new { }));
        _fake.MapGet(ApiPaths.Work, () => Results.Json(new WorkResponse([]), ProtocolJson.Options));
        _fake.MapGet(ApiPaths.RelayWork, async (HttpContext context) =>
        {
            var mode = _workModes.TryDequeue(out var next) ? next : "ok";
            _served.Add("work " + mode);
            if (mode == "ok")
            {
                Interlocked.Increment(ref _goodWork);
                await Task.Delay(TimeSpan.FromMilliseconds(500)); // a short long poll: the relay asks again soon
            }
            await AnswerAsync(context, mode, () => Results.Json(new RelayWorkResponse([], new Dictionary<string, SignedManifest>(), "etag-1"), ProtocolJson.Options));
        });
        _fake.MapPost(ApiPaths.RelayBatch, async (HttpContext context) =>
        {
            var mode = _batchModes.TryDequeue(out var next) ? next : "ok";
            _served.Add("batch " + mode);
            if (mode == "ok")
            {
                Interlocked.Increment(ref _goodBatches);
            }
            await AnswerAsync(context, mode, () => Results.Json(new RelayBatchResponse([]), ProtocolJson.Options));
        });
        await _fake.StartAsync();
        _url = _fake.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    private static async Task AnswerAsync(HttpContext context, string mode, Func<IResult> ok)
    {
        IResult result = mode switch
        {
            "ok" => ok(),
            "html" => Results.Content("<html><body>Proxy error</body></html>", "text/html"),
            "empty" => Results.Content("{}", "application/json"),
            "truncated" => Results.Content("{\"items\":[{\"workItemId\":", "application/json"),
            _ => Results.Json(new { title = "Refused", detail = $"refused with {mode}", errorId = "Refused" + mode },
                statusCode: int.Parse(mode, System.Globalization.CultureInfo.InvariantCulture)),
        };
        await result.ExecuteAsync(context);
    }

    public async Task DisposeAsync()
    {
        await _fake.StopAsync();
        await _fake.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task No_answer_of_the_higher_system_ends_the_relay_and_it_works_again_when_answers_are_good()
    {
        using var relay = NodeProcess.Start(null, "relay", "--manager", _url, "--token", "secret", "--listen", "http://127.0.0.1:0",
            "--name", "relay-hostile", "--state", Path.Combine(_root, "relay"));
        NodeProcess? agent = null;
        try
        {
            var relayUrl = await _relayUrl.Task.WaitAsync(TimeSpan.FromSeconds(90));
            // A lower client, so that the relay has last-seen times to pass upward in batches.
            agent = NodeProcess.Start(null, "agent", "--manager", relayUrl, "--token", "secret", "--name", "pc-below-hostile", "--state", Path.Combine(_root, "agent"));

            await Eventually.ForAsync(() => Task.FromResult(Volatile.Read(ref _goodWork) >= 2 && Volatile.Read(ref _goodBatches) >= 1),
                "good work polls and a good batch after every bad answer", relay, TimeSpan.FromSeconds(240));
            Assert.False(relay.Process.HasExited, "the relay ended");
            Assert.All(Bad, mode =>
            {
                Assert.Contains("work " + mode, _served);
                Assert.Contains("batch " + mode, _served);
            });
        }
        finally
        {
            if (agent is not null)
            {
                await agent.StopAsync();
                agent.Dispose();
            }
        }

        var log = await relay.StopAsync();
        output.WriteLine(log);
        foreach (var status in new[] { "refused with 400", "refused with 409", "refused with 429", "refused with 500" })
        {
            Assert.Contains(status, log, StringComparison.Ordinal);
        }
        Assert.Contains("is not a JP1Dist answer", log, StringComparison.Ordinal); // the HTML page, `{}` and the truncated body
        Assert.DoesNotContain("Unexpected failure", log, StringComparison.Ordinal); // each case is one the relay knows
        Assert.Contains("Cannot take work from the higher system", log, StringComparison.Ordinal);
        Assert.Contains("Cannot pass", log, StringComparison.Ordinal);
    }
}
