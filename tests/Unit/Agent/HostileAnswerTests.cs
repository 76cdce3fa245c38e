using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Security.Cryptography;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Tests.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// A fake higher system on 127.0.0.1 that answers an agent's polls with every bad case (400, 404, 409, 429, 500, an HTML
/// page, a body that is not the protocol's, `{}`, a truncated one): the agent never ends on them, says what it got, and takes
/// work again once the answers are good. A registration refused for good ends it with exit code 4 and the reason; one
/// answered 429 or 503 is asked again.
/// </summary>
public sealed class HostileAnswerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly string[] BadWork = ["400", "404", "409", "429", "500", "html", "foreign", "empty", "truncated"];
    private readonly ConcurrentQueue<string> _workModes = new(BadWork);
    private readonly ConcurrentQueue<string> _registerModes = new();
    private readonly ConcurrentBag<string> _served = [];
    private int _goodPolls;
    private WebApplication _fake = null!;
    private Uri _url = null!;
    private readonly string _state = Path.Combine(Path.GetTempPath(), "jp1dist-hostile-" + Guid.NewGuid().ToString("N")[..8]);

    public async Task InitializeAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var publicKey = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo());
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _fake = builder.Build();
        _fake.MapPost(ApiPaths.Register, async (HttpContext context) =>
        {
            var mode = _registerModes.TryDequeue(out var next) ? next : "ok";
            _served.Add("register " + mode);
            await AnswerAsync(context, mode, () => Results.Json(new RegisterResponse(Guid.NewGuid(), "credential", publicKey), ProtocolJson.Options));
        });
        _fake.MapPost(ApiPaths.Facts, () => Results.Json(new { }));
        _fake.MapGet(ApiPaths.Work, async (HttpContext context) =>
        {
            var mode = _workModes.TryDequeue(out var next) ? next : "ok";
            _served.Add("work " + mode);
            if (mode == "ok")
            {
                Interlocked.Increment(ref _goodPolls);
            }
            await AnswerAsync(context, mode, () => Results.Json(new WorkResponse([]), ProtocolJson.Options));
        });
        await _fake.StartAsync();
        _url = new Uri(_fake.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    private static async Task AnswerAsync(HttpContext context, string mode, Func<IResult> ok)
    {
        IResult result = mode switch
        {
            "ok" => ok(),
            "html" => Results.Content("<html><body>Proxy error</body></html>", "text/html"),
            "foreign" => Results.Json(new { items = "not a list", unexpected = true }),
            "empty" => Results.Content("{}", "application/json"), // no work list at all, not an empty one
            "truncated" => Results.Content("{\"items\":[{\"workItemId\":", "application/json"),
            _ => Results.Json(new { title = "Refused", detail = $"refused with {mode}", errorId = mode == "401" ? "EnrollmentTokenExpired" : "Refused" + mode },
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
            Directory.Delete(_state, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private AgentRuntime Agent(ListLogger logger) => new(new AgentOptions
    {
        ManagerUrl = _url,
        Token = "secret",
        Name = "pc-hostile",
        StateFolder = _state,
        PollWait = TimeSpan.Zero,
        MaxBackoff = TimeSpan.FromMilliseconds(100),
    }, logger);

    [Fact]
    public async Task No_answer_of_the_higher_system_ends_the_agent_and_it_takes_work_again_when_answers_are_good()
    {
        var logger = new ListLogger(output);
        using var agent = Agent(logger);
        using var stop = new CancellationTokenSource();
        var run = agent.RunAsync(stop.Token);

        await Eventually.ForAsync(() => Task.FromResult(Volatile.Read(ref _goodPolls) >= 3 || run.IsCompleted), "good polls after every bad answer");
        Assert.False(run.IsCompleted, $"the agent ended: {run.Exception}");
        Assert.All(BadWork, mode => Assert.Contains("work " + mode, _served));
        foreach (var status in new[] { "400 Refused400", "404 Refused404", "409 Refused409", "429 Refused429" })
        {
            Assert.Contains(logger.Lines, line => line.Contains("answered " + status, StringComparison.Ordinal));
        }
        Assert.Contains(logger.Lines, line => line.Contains("is not a JP1Dist answer", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Lines, line => line.Contains("Unexpected failure", StringComparison.Ordinal)); // each case is one the agent knows

        await stop.CancelAsync();
        await run; // ends cleanly when stopped
    }

    [Fact]
    public async Task A_registration_answered_429_or_503_is_asked_again_and_one_refused_for_good_ends_the_agent_with_the_reason()
    {
        foreach (var mode in new[] { "429", "503", "401" })
        {
            _registerModes.Enqueue(mode);
        }
        var logger = new ListLogger(output);
        using var agent = Agent(logger);

        var refused = await Assert.ThrowsAsync<EnrollmentRefusedException>(() => agent.RunAsync(CancellationToken.None).WaitAsync(Eventually.Limit));

        Assert.Equal(["register 401", "register 429", "register 503"], _served.Where(s => s.StartsWith("register", StringComparison.Ordinal)).Order());
        Assert.Equal("EnrollmentTokenExpired", refused.ErrorId);
        Assert.Contains("refused to register 'pc-hostile' (EnrollmentTokenExpired)", refused.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_state, "agent.json")), "a refused agent saved an identity");
    }

    [Fact]
    public async Task A_long_running_agent_process_whose_token_expired_ends_with_exit_code_4()
    {
        await using var h = await AgentHarness.StartAsync();
        var token = await h.Folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("expired", ExpiresIn: TimeSpan.FromHours(1)));
        await using (var db = h.Folder.Engine.Database.CreateContext())
        {
            await db.EnrollmentTokens.Where(t => t.Id == token.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.ExpiresAt, DateTime.UtcNow.AddMinutes(-1)));
        }
        using var agent = NodeProcess.Start(null, "agent", "--manager", h.Url, "--token", token.Token!, "--name", "pc-late", "--state", Path.Combine(h.Folder.Root, "state"));
        var exitCode = await agent.WaitAsync(Eventually.Limit);
        var text = await agent.OutputAsync();
        output.WriteLine(text);
        Assert.Equal(EnrollmentRefusedException.ExitCode, exitCode);
        Assert.Contains("EnrollmentTokenExpired", text, StringComparison.Ordinal);
        Assert.Empty(await h.Folder.Engine.Hosts.ListAsync("pc-late"));
    }

    /// <summary>Keeps what the agent logs, and shows it in the test output.</summary>
    private sealed class ListLogger(ITestOutputHelper output) : ILogger
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{logLevel}: {formatter(state, exception)}";
            Lines.Enqueue(line);
            output.WriteLine(line);
        }
    }
}
