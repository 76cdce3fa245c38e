using System.Text.Json;
using JP1Dist.Engine.Domain;
using JP1Dist.Engine.Policies;
using JP1Dist.Engine.Protocol;
using JP1Dist.Engine.Security;
using JP1Dist.Engine.Storage;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Engine.Hosts;

/// <summary>Enrollment tokens, host registration and authentication, and the host list.</summary>
public sealed class HostService(DistEngine engine)
{
    /// <summary>Creates an enrollment token; its secret is returned once and only its hash is kept.</summary>
    public async Task<DistEnrollmentToken> NewEnrollmentTokenAsync(string? description, CancellationToken cancellationToken = default)
    {
        var secret = Secrets.NewSecret();
        var row = new EnrollmentTokenRow { TokenHash = Secrets.Hash(secret), Description = description, CreatedAt = engine.Now };
        await using var db = engine.Database.CreateContext();
        db.EnrollmentTokens.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return new DistEnrollmentToken(row.Id, secret, description, row.CreatedAt.AsLocal());
    }

    /// <summary>
    /// Registers a host presenting a valid token. A host name already known is taken over by the new
    /// agent (a reinstalled computer keeps its id and history) and gets a fresh credential.
    /// </summary>
    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(request.Token))
        {
            throw new DistException("EnrollmentTokenMissing", DistErrorKind.Unauthorized, "The registration carries no enrollment token.");
        }
        var name = Names.Require(request.Name, "Host");
        var credential = Secrets.NewSecret();
        var now = engine.Now;
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var tokenHash = Secrets.Hash(request.Token);
        var token = await db.EnrollmentTokens.FirstOrDefaultAsync(t => t.TokenHash == tokenHash, cancellationToken)
            ?? throw new DistException("EnrollmentTokenInvalid", DistErrorKind.Unauthorized, "The enrollment token is not valid.");
        token.UseCount++;
        token.LastUsedAt = now;
        var key = Names.Key(name);
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.NameKey == key, cancellationToken);
        var isNew = host is null;
        if (host is null)
        {
            host = new HostRow { Id = Guid.NewGuid(), Name = name, NameKey = key, CredentialHash = "", RegisteredAt = now };
            db.Hosts.Add(host);
        }
        host.Name = name;
        host.CredentialHash = Secrets.Hash(credential);
        host.LastSeen = now;
        var update = engine.Inventory.ApplyFacts(host, new FactsReport(request.OS, request.OSVersion, request.Architecture,
            request.Addresses ?? [], request.MacAddress, request.AgentVersion, request.Inventory));
        // A host's first connection (or changed facts at re-registration) is when ID group policies admit it.
        if (isNew)
        {
            var inventory = request.Inventory;
            // Evaluated from the facts just received (the software rows are written after the host row).
            await engine.Policies.ApplyToNewHostAsync(db, new HostFactSet(host.Id, host.Name, host.OS, host.OSVersion, host.Architecture,
                request.Addresses ?? [], inventory?.MacAddresses is { Count: > 0 } macs ? macs : request.MacAddress is { } mac ? [mac] : [],
                host.MemoryMB, host.CpuCount, new HashSet<string>(),
                (update.Software ?? []).Select(s => (s.Name, s.Version)).ToList()), cancellationToken);
            await db.SaveChangesAsync(cancellationToken);
            if (update.Software is { Count: > 0 } software)
            {
                await engine.Inventory.WriteSoftwareAsync(db, host.Id, software, replace: false, cancellationToken);
            }
        }
        else
        {
            await db.SaveChangesAsync(cancellationToken);
            if (update.Software is { } software)
            {
                await engine.Inventory.WriteSoftwareAsync(db, host.Id, software, replace: true, cancellationToken);
            }
            if (update.Changed)
            {
                await engine.Policies.ApplyAsync(db, [host.Id], null, cancellationToken);
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return new RegisterResponse(host.Id, credential, engine.Signer.PublicKey);
    }

    /// <summary>The host whose id and credential these are, or null.</summary>
    public async Task<Guid?> AuthenticateAsync(Guid hostId, string credential, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var hash = await db.Hosts.Where(h => h.Id == hostId).Select(h => h.CredentialHash).FirstOrDefaultAsync(cancellationToken);
        return hash is not null && Secrets.Matches(credential, hash) ? hostId : null;
    }

    /// <summary>Hosts whose names match the wildcard pattern.</summary>
    public async Task<IReadOnlyList<DistHost>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var rows = await db.Hosts.AsNoTracking().OrderBy(h => h.NameKey).ToListAsync(cancellationToken);
        var matcher = Wildcard.For(namePattern);
        return rows.Where(r => matcher(r.Name)).Select(ToView).ToList();
    }

    /// <summary>Removes a host and its targets; refused while it has unfinished targets unless forced.</summary>
    public async Task RemoveAsync(string name, bool force, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var key = Names.Key(name);
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.NameKey == key, cancellationToken) ?? throw HostNotFound(name);
        var busy = await db.Targets.CountAsync(t => t.HostId == host.Id && !FinalStatuses.Contains(t.Status), cancellationToken);
        if (busy > 0 && !force)
        {
            throw new DistException("HostBusy", DistErrorKind.InvalidOperation,
                $"Host '{host.Name}' has {busy} unfinished job target(s); wait for them, or use -Force.", host.Name);
        }
        await db.Targets.Where(t => t.HostId == host.Id).ExecuteDeleteAsync(cancellationToken);
        await db.JobDestinations.Where(d => d.HostId == host.Id).ExecuteDeleteAsync(cancellationToken);
        db.Hosts.Remove(host);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The hosts named; every one must be registered, else HostNotFound names the unknown ones.</summary>
    internal static async Task<List<HostRow>> FindHostsAsync(DistDbContext db, IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        var wanted = names.Where(n => !string.IsNullOrWhiteSpace(n)).Select(n => n.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (wanted.Count == 0)
        {
            return [];
        }
        var keys = wanted.Select(Names.Key).ToList();
        var rows = await db.Hosts.Where(h => keys.Contains(h.NameKey)).ToListAsync(cancellationToken);
        var unknown = wanted.Where(n => rows.All(r => r.NameKey != Names.Key(n))).ToList();
        if (unknown.Count > 0)
        {
            throw new DistException("HostNotFound", DistErrorKind.NotFound,
                $"No host named {string.Join(", ", unknown.Select(u => $"'{u}'"))} is registered; Get-DistHost lists the registered hosts.", unknown[0]);
        }
        return rows;
    }

    internal static readonly TargetStatus[] FinalStatuses = Enum.GetValues<TargetStatus>().Where(s => s.IsFinal()).ToArray();

    internal static DistException HostNotFound(string name) =>
        new("HostNotFound", DistErrorKind.NotFound, $"No host named '{name}' is registered.", name);

    internal static DistHost ToView(HostRow row) => new(
        row.Name, row.Id, row.OS, row.OSVersion, row.Architecture,
        JsonSerializer.Deserialize<string[]>(row.AddressesJson) ?? [],
        row.MacAddress, row.AgentVersion, row.RegisteredAt.AsLocal(), row.LastSeen.AsLocal());
}
