using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Managers;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Server.Serving;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>The manager as a higher system: everything is decided here, from the database and the content store.</summary>
public sealed partial class ManagerNode(DistEngine engine, DistributionService distribution, HostSignals signals, CredentialWatch credentials,
    LastSeenRecorder lastSeen, ILogger<ManagerNode> logger) : IHigherSystemNode
{
    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, Guid? parentHostId, CancellationToken cancellationToken)
    {
        // A token made by another manager (or mistyped), or naming a key this manager retired, admits nothing here: refused
        // before anything is registered. A key in its grace period admits: the answer carries its announcement.
        if (request.SigningKeyFingerprint is { } expected)
        {
            await engine.SigningKeys.CheckTokenKeyAsync(expected, cancellationToken);
        }
        // What the answer needs besides (queued work, a replacement) is found inside the registration's write: a context of
        // its own here would open a database connection more per registration.
        var registration = await engine.Hosts.RegisterForNodeAsync(request, parentHostId, cancellationToken);
        var response = registration.Response;
        if (response.Pending)
        {
            // A first request (not the agent asking again with the credential it got) is news for the administrator.
            if (request.HostId != response.HostId || request.Credential != response.Credential)
            {
                var replaces = registration.ReplacesEnrolled;
                logger.LogWarning("Host {Name} ({HostId}) registered{Via} with a token that requires approval; it waits{Replacing}: Get-DistHost -Pending, "
                    + "Approve-DistHost -Name {Name}{Switch}, or Deny-DistHost", request.Name, response.HostId, parentHostId is { } via ? $" through relay {via}" : "",
                    replaces ? " to replace the enrolled host of that name, which keeps working meanwhile" : "", request.Name, replaces ? " -Replace" : "");
            }
            return response;
        }
        signals.Learn(response.HostId, parentHostId);
        // An ID group may have queued work for the new host: then the relays above it look again at once (a
        // registration that queued nothing wakes nobody).
        if (registration.QueuedWork)
        {
            signals.Notify([response.HostId]);
        }
        return response;
    }

    public Task<Guid?> AuthenticateAsync(Guid hostId, string credential, CancellationToken cancellationToken) =>
        engine.Hosts.AuthenticateAsync(hostId, credential, cancellationToken);

    public IReadOnlyList<SigningKeyAnnouncement> SigningKeyAnnouncements() => engine.SigningKeys.Announcements();
    public long CredentialGeneration => credentials.Generation;

    public Task<bool> ReportFactsAsync(Guid hostId, FactsReport facts, CancellationToken cancellationToken) =>
        engine.Inventory.ReportFactsAsync(hostId, facts, cancellationToken);

    public Task<WorkResponse> WaitForWorkAsync(Guid hostId, TimeSpan wait, CancellationToken cancellationToken) =>
        distribution.WaitForWorkAsync(hostId, wait, cancellationToken);

    public Task<ReportResponse> ReportAsync(Guid hostId, ReportRequest report, CancellationToken cancellationToken) =>
        distribution.ReportAsync(hostId, report, cancellationToken);

    public Task TouchAsync(Guid hostId)
    {
        lastSeen.Note(hostId, engine.Now);
        return Task.CompletedTask;
    }

    public Task<string?> GetContentPathAsync(string sha256, CancellationToken cancellationToken) =>
        Task.FromResult(engine.Content.Contains(sha256) ? engine.Content.PathOf(sha256) : null);

    public async Task<IReadOnlyDictionary<TargetStatus, int>> CountTargetsAsync(CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        // The counts kept by job (JobTargetCounts), summed: a scrape reads a dozen rows a job, not every target.
        return await db.JobTargetCounts.GroupBy(c => c.Status).Select(g => new { g.Key, Count = g.Sum(c => c.Count) })
            .ToDictionaryAsync(g => g.Key, g => g.Count, cancellationToken);
    }
}
