using System.Net;
using System.Text;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// Several higher systems (`--manager URL1,URL2`): which one a call goes to, when it moves on, and when it goes back to the
/// first; and the client's calls against handlers that fail the way a dead relay or a stand-in that does not know the host does.
/// </summary>
public sealed class HigherSystemsTests
{
    private static readonly Uri Relay = new("https://relay.example.test:22401/");
    private static readonly Uri Other = new("https://relay2.example.test:22401/");
    private static readonly Uri Manager = new("https://manager.example.test:22400/");

    [Fact]
    public void A_failure_moves_on_once_from_the_system_that_failed_and_wraps_around()
    {
        var moves = new List<(Uri, Uri, bool)>();
        var systems = new HigherSystems([Relay, Other, Manager]) { Moved = (from, to, back) => moves.Add((from, to, back)) };
        Assert.Equal(Relay, systems.Current);
        Assert.Equal(Other, systems.FailedOver(Relay));
        // A second call that failed on the relay at the same time does not skip the stand-in.
        Assert.Equal(Other, systems.FailedOver(Relay));
        Assert.Equal(Manager, systems.FailedOver(Other));
        Assert.Equal(Relay, systems.FailedOver(Manager));
        Assert.True(systems.OnFirst);
        Assert.Equal(Manager, systems.LastFailed);
        Assert.Equal([(Relay, Other, false), (Other, Manager, false), (Manager, Relay, false)], moves);
    }

    [Fact]
    public void A_single_higher_system_stays_where_it_is()
    {
        var systems = new HigherSystems([Manager]);
        Assert.Equal(Manager, systems.FailedOver(Manager));
        Assert.Equal(Manager, systems.Current);
    }

    [Fact]
    public void A_node_on_a_stand_in_goes_back_to_the_first_after_the_return_interval()
    {
        var clock = new ManualClock();
        var moves = new List<(Uri, Uri, bool)>();
        var systems = new HigherSystems([Relay, Manager], clock) { ReturnAfter = TimeSpan.FromMinutes(5), Moved = (from, to, back) => moves.Add((from, to, back)) };
        systems.FailedOver(Relay);
        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(Manager, systems.Current);
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(Relay, systems.Current);
        Assert.Equal([(Relay, Manager, false), (Manager, Relay, true)], moves);
        // Still down: on to the stand-in again, for another interval counted from now.
        systems.FailedOver(Relay);
        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(Manager, systems.Current);
    }

    [Theory]
    [InlineData("https://a:1", 1)]
    [InlineData("https://a:1,https://b:2", 2)]
    [InlineData(" https://a:1 , http://127.0.0.1:2 ", 2)]
    public void Parse_reads_one_url_or_several(string text, int count)
    {
        var urls = HigherSystems.Parse(text, out var error);
        Assert.Null(error);
        Assert.Equal(count, urls!.Count);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("https://a:1,", "empty")]
    [InlineData("https://a:1,ftp://b", "'ftp://b' is not an http:// or https:// URL")]
    [InlineData("https://a:1,https://a:1", "given twice")]
    [InlineData("relay1", "'relay1' is not")]
    public void Parse_refuses_what_is_not_a_list_of_urls(string text, string expected)
    {
        Assert.Null(HigherSystems.Parse(text, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_bounds_the_list()
    {
        var text = string.Join(',', Enumerable.Range(1, HigherSystems.MaxCount + 1).Select(i => $"https://r{i}:1"));
        Assert.Null(HigherSystems.Parse(text, out var error));
        Assert.Contains($"at most {HigherSystems.MaxCount}", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_call_that_cannot_reach_the_first_moves_the_next_call_to_the_stand_in()
    {
        var handler = new Scripted(request => request.RequestUri!.Host == Relay.Host
            ? throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused")
            : Json("{\"items\":[]}"));
        using var client = new HigherSystemClient(new HigherSystems([Relay, Manager]), handler);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(Manager, client.Current);
        var work = await client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None);
        Assert.Empty(work.Items);
        Assert.Equal([Relay.Host, Manager.Host], handler.Hosts);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.TooManyRequests, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    public async Task Only_an_answer_that_says_it_cannot_serve_moves_on(HttpStatusCode status, bool movesOn)
    {
        var handler = new Scripted(_ => new HttpResponseMessage(status) { Content = new StringContent("{}", Encoding.UTF8, "application/problem+json") });
        using var client = new HigherSystemClient(new HigherSystems([Relay, Manager]), handler);
        await Assert.ThrowsAsync<HigherSystemException>(() => client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(movesOn ? Manager : Relay, client.Current);
    }

    [Fact]
    public async Task A_stand_in_that_does_not_know_the_host_is_tried_past_not_a_reason_to_register_again()
    {
        var handler = new Scripted(request => request.RequestUri!.Host == Other.Host
            ? new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("{\"errorId\":\"Unauthorized\",\"detail\":\"unknown credential\"}") }
            : throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused"));
        using var client = new HigherSystemClient(new HigherSystems([Relay, Other, Manager]), handler);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None));
        var refused = await Assert.ThrowsAsync<StandInRefusedException>(() => client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.True(HigherSystemClient.IsTransient(refused));
        Assert.Equal(Manager, client.Current);
    }

    [Fact]
    public async Task The_first_higher_system_refusing_the_credential_still_says_so()
    {
        var handler = new Scripted(_ => new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("{\"errorId\":\"Unauthorized\"}") });
        using var client = new HigherSystemClient(new HigherSystems([Relay, Manager]), handler);
        var refused = await Assert.ThrowsAsync<HigherSystemException>(() => client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
        Assert.Equal(Relay, client.Current);
    }

    [Fact]
    public async Task A_revoked_credential_is_final_wherever_it_is_refused()
    {
        var handler = new Scripted(request => request.RequestUri!.Host == Relay.Host
            ? throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused")
            : new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent($"{{\"errorId\":\"{RevokedCredential.ErrorId}\"}}") });
        using var client = new HigherSystemClient(new HigherSystems([Relay, Manager]), handler);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None));
        var refused = await Assert.ThrowsAsync<HigherSystemException>(() => client.GetWorkAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(RevokedCredential.ErrorId, refused.ErrorId);
    }

    [Fact]
    public async Task A_content_range_moves_on_when_the_first_is_gone()
    {
        var handler = new Scripted(request => request.RequestUri!.Host == Relay.Host
            ? throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused")
            : new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = new ByteArrayContent([1, 2, 3]) });
        using var client = new HigherSystemClient(new HigherSystems([Relay, Manager]), handler);
        var hash = new string('a', 64);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.OpenRangeAsync(hash, 0, CancellationToken.None));
        var (response, body) = await client.OpenRangeAsync(hash, 0, CancellationToken.None);
        using (response)
        {
            await body.DisposeAsync();
        }
        Assert.Equal([Relay.Host, Manager.Host], handler.Hosts);
    }

    private static HttpResponseMessage Json(string json) => new(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    /// <summary>A handler that answers each request with a function of it, and records the host each went to.</summary>
    private sealed class Scripted(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<string> Hosts { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Hosts)
            {
                Hosts.Add(request.RequestUri!.Host);
            }
            return Task.FromResult(answer(request));
        }
    }

    /// <summary>A clock moved by the test.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;

        public override long GetTimestamp() => _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    }
}
