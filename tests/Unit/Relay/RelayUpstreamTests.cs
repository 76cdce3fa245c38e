using System.Net;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using JP1Dist.Server.Relay;
using Xunit;

namespace JP1Dist.Tests.Relay;

/// <summary>A relay passes its higher system's refusal down as the same kind of refusal, not as "unreachable".</summary>
public sealed class RelayUpstreamTests
{
    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, DistErrorKind.Unauthorized)]
    [InlineData(HttpStatusCode.Forbidden, DistErrorKind.Forbidden)]
    [InlineData(HttpStatusCode.NotFound, DistErrorKind.NotFound)]
    [InlineData(HttpStatusCode.Conflict, DistErrorKind.InvalidOperation)]
    [InlineData(HttpStatusCode.BadRequest, DistErrorKind.InvalidArgument)]
    [InlineData(HttpStatusCode.ServiceUnavailable, DistErrorKind.NotAvailable)]
    public void A_refusal_from_above_keeps_its_kind_and_error_id(HttpStatusCode status, DistErrorKind kind)
    {
        var translated = RelayUpstream.Translate(new HigherSystemException(status, "SomeErrorId", "why"));
        Assert.Equal(kind, translated.Kind);
        Assert.Equal(status == HttpStatusCode.ServiceUnavailable ? "HigherSystemUnreachable" : "SomeErrorId", translated.ErrorId);
    }
}
