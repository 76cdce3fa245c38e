using JP1Dist.Core;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Hosts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Server.Manager;

/// <summary>
/// Notices what administrators decided about credentials in the database (approvals, denials, revocations), at once
/// when a cmdlet nudges the manager and every sweep interval otherwise: logs each decision, and on a revocation moves
/// the credential generation on (credentials verified before are checked again, so a revoked one is refused) and wakes
/// every waiting poll (a relay's poll answers at once with the new revocation list).
/// </summary>
public sealed class CredentialWatch(DistEngine engine, HostSignals signals, ManagerOptions options, ILogger<CredentialWatch> logger) : BackgroundService
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _lastRevocation = -1;
    private DateTime _lastApproval;
    private long _generation;

    /// <summary>Moves on with every revocation this manager noticed (<see cref="Serving.AgentAuthentication"/> checks again then).</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Looks for decisions made since the last look.</summary>
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var db = engine.Database.CreateContext();
            if (_lastRevocation < 0)
            {
                // From now on: what was decided before this manager started was logged by the one that ran then.
                _lastRevocation = await db.RevokedCredentials.MaxAsync(r => (long?)r.Id, cancellationToken) ?? 0;
                _lastApproval = engine.Now;
                return;
            }
            var approved = await db.PendingEnrollments.AsNoTracking().Where(p => p.ApprovedAt > _lastApproval).OrderBy(p => p.ApprovedAt).ToListAsync(cancellationToken);
            foreach (var pending in approved)
            {
                logger.LogInformation("Host {Name} ({HostId}) was approved{Replacing}; it starts when its agent next asks", pending.Name, pending.HostId,
                    pending.ReplacesHostId is null ? "" : " and replaces the enrolled host of that name (its old credential is revoked)");
                _lastApproval = pending.ApprovedAt!.Value;
            }
            var revoked = await db.RevokedCredentials.AsNoTracking().Where(r => r.Id > _lastRevocation).OrderBy(r => r.Id).ToListAsync(cancellationToken);
            foreach (var revocation in revoked)
            {
                logger.LogWarning("Credential of host {Name} ({HostId}) revoked ({Reason}): the manager and every relay refuse it from now on",
                    revocation.Name, revocation.HostId, revocation.Reason switch
                    {
                        RevocationReasons.Denied => "enrollment denied",
                        RevocationReasons.Replaced => "replaced by an approved computer",
                        _ => "host removed with -Revoke",
                    });
                _lastRevocation = revocation.Id;
            }
            if (revoked.Count > 0)
            {
                Interlocked.Increment(ref _generation);
                signals.NotifyAll();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await CheckAsync(stoppingToken);
                await Task.Delay(options.SweepInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Looking for approvals and revocations failed; trying again");
                try
                {
                    await Task.Delay(options.SweepInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    public override void Dispose()
    {
        _gate.Dispose();
        base.Dispose();
    }
}
