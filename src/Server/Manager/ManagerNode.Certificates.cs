using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Protocol.Tls;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>The manager issues the relays' TLS certificates with its signing key, so that clients below a relay trust it through their token.</summary>
public sealed partial class ManagerNode
{
    public async Task<RelayCertificateResponse> IssueRelayCertificateAsync(Guid relayId, RelayCertificateRequest request, CancellationToken cancellationToken)
    {
        string? name;
        await using (var db = engine.Database.CreateContext())
        {
            name = await db.Hosts.AsNoTracking().Where(h => h.Id == relayId && h.Kind == HostKind.Relay).Select(h => h.Name).FirstOrDefaultAsync(cancellationToken);
        }
        if (name is null)
        {
            throw new DistException("HostNotRelay", DistErrorKind.NotFound, $"Host {relayId} is not a registered relay; certificates are issued to relays only.", relayId);
        }
        using var issued = RelayCertificates.Issue(engine.Signer, request, name, relayId, engine.Time.GetUtcNow());
        logger.LogInformation("Issued relay {Name} ({HostId}) a TLS certificate for {Names} with signing key {SigningKey}, valid until {NotAfter:u}; its pin is {Pin}",
            name, relayId, string.Join(", ", (request.DnsNames ?? []).Concat(request.IPAddresses ?? [])),
            Fingerprints.OfPublicKey(engine.Signer.PublicKey), issued.Certificate.NotAfter.ToUniversalTime(), Fingerprints.OfCertificate(issued.Certificate));
        return issued.ToResponse();
    }
}
