using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using JP1Dist.Server.Serving;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// The remembered credentials of <see cref="AgentAuthentication"/>: a verified pair costs the node no second look until
/// <see cref="AgentAuthentication.RecheckAfter"/> has passed or a credential was revoked; then the node decides again, so a
/// host removed without -Revoke is refused within that time.
/// </summary>
public sealed class AgentAuthenticationTests
{
    private static readonly Guid Host = Guid.NewGuid();

    [Fact]
    public async Task A_verified_pair_is_asked_again_only_after_the_recheck_time_or_a_revocation()
    {
        var node = new CountingNode { Known = true };
        var clock = new SteppedClock();
        var auth = new AgentAuthentication(node, clock);

        Assert.Equal(Host, await auth.AuthenticateAsync(Request("secret")));
        clock.Advance(AgentAuthentication.RecheckAfter - TimeSpan.FromSeconds(1));
        Assert.Equal(Host, await auth.AuthenticateAsync(Request("secret")));
        Assert.Equal(1, node.Asked); // remembered

        Assert.Null(await auth.AuthenticateAsync(Request("other"))); // another credential for the host is never taken from memory
        Assert.Equal(2, node.Asked);

        // The host is removed (no revocation): the memory of it lasts only until the recheck time.
        node.Known = false;
        Assert.Equal(Host, await auth.AuthenticateAsync(Request("secret")));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await auth.AuthenticateAsync(Request("secret")));
        Assert.Equal(3, node.Asked);

        // A revocation anywhere makes every remembered pair be checked again at once.
        node.Known = true;
        Assert.Equal(Host, await auth.AuthenticateAsync(Request("secret")));
        Assert.Equal(Host, await auth.AuthenticateAsync(Request("secret")));
        Assert.Equal(4, node.Asked);
        node.CredentialGeneration++;
        Assert.Equal(Host, await auth.AuthenticateAsync(Request("secret")));
        Assert.Equal(5, node.Asked);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Basic abc")]
    [InlineData("Bearer nodot")]
    [InlineData("Bearer not-a-guid.secret")]
    [InlineData("Bearer .secret")]
    public async Task A_header_that_is_not_a_host_credential_is_refused_without_asking_the_node(string? header)
    {
        var node = new CountingNode { Known = true };
        var context = new DefaultHttpContext();
        if (header is not null)
        {
            context.Request.Headers.Authorization = header;
        }
        Assert.Null(await new AgentAuthentication(node).AuthenticateAsync(context));
        Assert.Equal(0, node.Asked);
    }

    private static DefaultHttpContext Request(string credential)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = $"Bearer {Host}.{credential}";
        return context;
    }

    /// <summary>A clock whose elapsed time moves only when the test says.</summary>
    private sealed class SteppedClock : TimeProvider
    {
        private long _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;

        public override long GetTimestamp() => _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    }

    /// <summary>A node that knows one host's "secret" (while <see cref="Known"/>) and counts how often it is asked.</summary>
    private sealed class CountingNode : IHigherSystemNode
    {
        public bool Known { get; set; }
        public int Asked { get; private set; }
        public long CredentialGeneration { get; set; }

        public Task<Guid?> AuthenticateAsync(Guid hostId, string credential, CancellationToken cancellationToken)
        {
            Asked++;
            return Task.FromResult<Guid?>(Known && hostId == Host && credential == "secret" ? hostId : null);
        }

        public Task<RegisterResponse> RegisterAsync(RegisterRequest request, Guid? parentHostId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> IsAtOrBelowAsync(Guid hostId, Guid relayId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> IsRelayAsync(Guid hostId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> ReportFactsAsync(Guid hostId, FactsReport facts, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<WorkResponse> WaitForWorkAsync(Guid hostId, TimeSpan wait, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ReportResponse> ReportAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task TouchAsync(Guid hostId) => throw new NotSupportedException();
        public Task<string?> GetContentPathAsync(string sha256, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<RelayWorkResponse> WaitForRelayWorkAsync(Guid relayId, TimeSpan wait, string? etag, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<RelayBatchResponse> ApplyRelayBatchAsync(Guid relayId, RelayBatch batch, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<RelayCertificateResponse> IssueRelayCertificateAsync(Guid relayId, RelayCertificateRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();
        public IReadOnlyList<Protocol.Signing.SigningKeyAnnouncement> SigningKeyAnnouncements() => throw new NotSupportedException();
        public Task<IReadOnlyDictionary<TargetStatus, int>> CountTargetsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
