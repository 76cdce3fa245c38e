using System.Collections.Concurrent;
using JP1Dist.Core.Distribution;
using Microsoft.AspNetCore.Http;

namespace JP1Dist.Server.Serving;

/// <summary>
/// Checks the per-agent credential on each request (<c>Authorization: Bearer {hostId}.{credential}</c>).
/// A verified pair is remembered, so the hot poll and report paths cost no database read, until the node's credential
/// generation changes (a credential was revoked): then every pair is checked again once, and a revoked one is refused.
/// A pair is also checked again after <see cref="RecheckAfter"/>, so a host removed without -Revoke is refused (and its
/// agent registers again) within that time, at the cost of one read per host per period.
/// </summary>
public sealed class AgentAuthentication(IHigherSystemNode node, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private readonly ConcurrentDictionary<Guid, (string Credential, long Generation, long VerifiedAt)> _verified = new(); // VerifiedAt: a TimeProvider timestamp

    /// <summary>How long a verified pair is trusted without asking the node again.</summary>
    public static readonly TimeSpan RecheckAfter = TimeSpan.FromMinutes(5);

    /// <summary>The authenticated host, or null.</summary>
    public async Task<Guid?> AuthenticateAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var value = header["Bearer ".Length..].Trim();
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || !Guid.TryParse(value.AsSpan(0, dot), out var hostId))
        {
            return null;
        }
        var credential = value[(dot + 1)..];
        // Read before asking the node: a revocation while it answers makes the answer stale, so it is asked again next time.
        var generation = node.CredentialGeneration;
        var now = _time.GetTimestamp();
        if (_verified.TryGetValue(hostId, out var known) && known.Generation == generation && _time.GetElapsedTime(known.VerifiedAt, now) < RecheckAfter
            && string.Equals(known.Credential, credential, StringComparison.Ordinal))
        {
            return hostId;
        }
        // A revoked credential throws CredentialRevoked (401) from here.
        var result = await node.AuthenticateAsync(hostId, credential, context.RequestAborted);
        if (result is not null)
        {
            _verified[hostId] = (credential, generation, now);
        }
        return result;
    }

    /// <summary>Forgets a host's remembered credential (after it re-registers).</summary>
    public void Forget(Guid hostId) => _verified.TryRemove(hostId, out _);
}
