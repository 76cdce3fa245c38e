using System.IO.Pipelines;
using System.Net;
using System.Text;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// What a node reads from its higher system is bounded too: a hostile higher system on 127.0.0.1 that announces a huge
/// answer, sends an endless one, or an endless refusal, gets a clear refusal from the client after at most the limit,
/// and the client stays usable.
/// </summary>
public sealed class BoundedAnswerTests : IAsyncLifetime
{
    private WebApplication _server = null!;
    private Uri _url = null!;
    /// <summary>Bytes the server handed to its connections' transport: what really went towards the client (see <see cref="Counting"/>).</summary>
    private long _sent;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        // Counted below the HTTP layer: once a client has gone, Kestrel accepts a handler's writes and drops them, and a
        // handler that counts its own writes counts what was never sent (under load it learns of the abort late).
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => connection =>
        {
            connection.Transport = new Counting(connection.Transport, bytes => Interlocked.Add(ref _sent, bytes));
            return next(connection);
        })));
        _server = builder.Build();
        _server.MapGet(ApiPaths.Work, async (HttpContext context) =>
        {
            context.Response.ContentType = "application/json";
            switch (context.Request.Query["wait"].ToString())
            {
                case "1": // announces more than the limit
                    context.Response.ContentLength = ProtocolLimits.MaxAnswerBytes + 1;
                    await context.Response.WriteAsync("{\"items\":[");
                    return;
                case "2": // an endless answer, without a length: a string that never closes
                    context.Response.StatusCode = 200;
                    await StreamEndlessAsync(context, "{\"items\":[{\"jobName\":\"");
                    return;
                case "5": // no answer at all: the connection stays open and silent
                    await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                    return;
                case "3": // an endless refusal
                    context.Response.StatusCode = 409;
                    await StreamEndlessAsync(context, "{\"errorId\":\"");
                    return;
                default:
                    await context.Response.WriteAsync("{\"items\":[]}");
                    return;
            }
        });
        await _server.StartAsync();
        _url = new Uri(_server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    private async Task StreamEndlessAsync(HttpContext context, string start)
    {
        await context.Response.WriteAsync(start);
        var chunk = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));
        try
        {
            for (long written = 0; !context.RequestAborted.IsCancellationRequested && written < 4 * ProtocolLimits.MaxAnswerBytes; written += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
    }

    public async Task DisposeAsync()
    {
        await _server.StopAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task An_answer_past_the_limit_is_refused_announced_or_endless_and_the_client_goes_on()
    {
        using var client = new HigherSystemClient(_url);
        var announced = await Assert.ThrowsAsync<AnswerTooLargeException>(() => client.GetWorkAsync(TimeSpan.FromSeconds(1), default));
        Assert.Contains("/api/v1/work", announced.Message, StringComparison.Ordinal);
        Assert.True(HigherSystemClient.IsTransient(announced), "a node tries again later rather than ending");

        var endless = await Assert.ThrowsAsync<AnswerTooLargeException>(() => client.GetWorkAsync(TimeSpan.FromSeconds(2), default));
        Assert.Equal(ProtocolLimits.MaxAnswerBytes, endless.Limit);
        // The client read up to its limit (so the count sees the bytes), and not much further.
        Assert.InRange(Interlocked.Read(ref _sent), ProtocolLimits.MaxAnswerBytes, 2 * ProtocolLimits.MaxAnswerBytes);

        // An endless refusal is read only as far as a refusal may go, and reported by its status.
        var refused = await Assert.ThrowsAsync<HigherSystemException>(() => client.GetWorkAsync(TimeSpan.FromSeconds(3), default));
        Assert.Equal(System.Net.HttpStatusCode.Conflict, refused.Status);

        Assert.Empty((await client.GetWorkAsync(TimeSpan.Zero, default)).Items);
    }

    [Fact]
    public async Task A_higher_system_that_never_answers_is_a_timeout_the_node_tries_again_not_a_cancellation_that_ends_it()
    {
        using var client = new HigherSystemClient(_url);
        // The call's own deadline (its wait plus 30 s) passes; the caller's token does not.
        var silent = await Assert.ThrowsAsync<TimeoutException>(() => client.GetWorkAsync(TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Contains("did not answer /api/v1/work within 35 s", silent.Message, StringComparison.Ordinal);
        Assert.True(HigherSystemClient.IsTransient(silent));

        // Cancelled by its caller, it is a cancellation, as before.
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetWorkAsync(TimeSpan.FromSeconds(5), stop.Token));
    }

    [Fact]
    public async Task A_limited_stream_reads_exactly_the_limit_and_refuses_one_byte_more()
    {
        var bytes = new byte[1000];
        await using (var exact = new LimitedReadStream(new MemoryStream(bytes), 1000, "a test"))
        {
            Assert.Equal(1000, await CountAsync(exact));
        }
        await using var over = new LimitedReadStream(new MemoryStream(new byte[1001]), 1000, "a test");
        await Assert.ThrowsAsync<AnswerTooLargeException>(() => CountAsync(over));
    }

    private static async Task<long> CountAsync(Stream stream)
    {
        var buffer = new byte[300];
        long total = 0;
        for (int read; (read = await stream.ReadAsync(buffer)) > 0;)
        {
            total += read;
        }
        return total;
    }

    /// <summary>A connection's transport whose output counts the bytes written to it.</summary>
    private sealed class Counting(IDuplexPipe inner, Action<long> count) : IDuplexPipe
    {
        public PipeReader Input => inner.Input;

        public PipeWriter Output { get; } = new CountingWriter(inner.Output, count);

        private sealed class CountingWriter(PipeWriter inner, Action<long> count) : PipeWriter
        {
            public override void Advance(int bytes)
            {
                count(bytes);
                inner.Advance(bytes);
            }

            public override void CancelPendingFlush() => inner.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => inner.Complete(exception);

            public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

            public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        }
    }
}
