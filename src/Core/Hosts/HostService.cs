using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Policies;
using JP1Dist.Core.Security;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Hosts;

/// <summary>Enrollment tokens, host registration and authentication, and the host list.</summary>
public sealed class HostService(DistEngine engine) : IHostService
{
    /// <summary>Creates an enrollment token for clients with no limits.</summary>
    public Task<DistEnrollmentToken> NewEnrollmentTokenAsync(string? description, CancellationToken cancellationToken = default) =>
        NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest(description), cancellationToken);

    /// <summary>
    /// Creates an enrollment token. Its text carries the secret (only its hash is kept), the fingerprint of this manager's
    /// signing key and, when the manager serves HTTPS, its certificate's pin, so that an agent given the token trusts
    /// exactly this manager from its first call (<see cref="EnrollmentTokenText"/>).
    /// </summary>
    public async Task<DistEnrollmentToken> NewEnrollmentTokenAsync(NewEnrollmentTokenRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ExpiresIn is { } span && (span <= TimeSpan.Zero || span > NewEnrollmentTokenRequest.MaxExpiresIn))
        {
            throw new DistException("EnrollmentTokenExpiryInvalid", DistErrorKind.InvalidArgument,
                $"-ExpiresIn must be more than zero and at most {NewEnrollmentTokenRequest.MaxExpiresIn.TotalDays:0} days; it was {span}.", span);
        }
        if (request.MaxUses is { } uses && uses < 1)
        {
            throw new DistException("EnrollmentTokenMaxUsesInvalid", DistErrorKind.InvalidArgument, $"-MaxUses must be 1 or more; it was {uses}.", uses);
        }
        var secret = Secrets.NewSecret();
        var now = engine.Now;
        await using var db = engine.Database.CreateContext();
        var pin = await db.ManagerNodes.AsNoTracking().Where(m => m.CertificatePin != null)
            .OrderByDescending(m => m.HeartbeatAt).Select(m => m.CertificatePin).FirstOrDefaultAsync(cancellationToken);
        var text = new EnrollmentTokenText(secret, engine.SigningKeys.Current().Fingerprint, Fingerprints.Normalize(pin));
        var row = new EnrollmentTokenRow
        {
            TokenHash = Secrets.Hash(secret),
            Description = request.Description,
            CreatedAt = now,
            ExpiresAt = request.ExpiresIn is { } expiresIn ? now + expiresIn : null,
            MaxUses = request.MaxUses,
            ForRelays = request.Relay,
        };
        db.EnrollmentTokens.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return ToView(row, text.ToString(), now);
    }

    /// <summary>Every enrollment token, newest first; the secrets are not kept, so no token text is shown.</summary>
    public async Task<IReadOnlyList<DistEnrollmentToken>> ListEnrollmentTokensAsync(CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        var rows = await db.EnrollmentTokens.AsNoTracking().OrderByDescending(t => t.Id).ToListAsync(cancellationToken);
        return rows.Select(r => ToView(r, null, now)).ToList();
    }

    /// <summary>Removes a token; registrations presenting it are refused from then on.</summary>
    public async Task RemoveEnrollmentTokenAsync(int id, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        if (await db.EnrollmentTokens.Where(t => t.Id == id).ExecuteDeleteAsync(cancellationToken) == 0)
        {
            throw new DistException("EnrollmentTokenNotFound", DistErrorKind.NotFound,
                $"No enrollment token has id {id}; Get-DistEnrollmentToken lists them.", id);
        }
    }

    private static DistEnrollmentToken ToView(EnrollmentTokenRow row, string? text, DateTime now) => new(
        row.Id, text, row.Description, row.CreatedAt.AsLocal(), row.ExpiresAt.AsLocal(), row.MaxUses, row.UseCount, row.ForRelays,
        row.LastUsedAt.AsLocal(),
        row.ExpiresAt is { } until && until <= now ? "Expired" : row.MaxUses is { } max && row.UseCount >= max ? "UsedUp" : "Active");

    /// <summary>
    /// Registers a host presenting a valid token (not expired, uses left; a relay only with a token made for relays,
    /// and such a token registers nothing else). A name belongs to the credential it was enrolled with: registering an
    /// enrolled name again is allowed only to the agent that proves it holds that host's current credential (it moved to
    /// another higher system, or re-enrolls), which keeps its id and history and gets a fresh credential; anyone else is
    /// refused (HostNameTaken) and the enrolled host is not touched.
    /// </summary>
    /// <param name="request">The registration, with the host's kind (Relay or Client) and, for a relay, its URL.</param>
    /// <param name="parentHostId">
    /// The host's higher system: a registered relay it registered through, or null for the manager itself. A host that
    /// registers again moves to this parent; a move under one of its own lower hosts is refused.
    /// </param>
    /// <param name="cancellationToken">Cancels the registration; nothing is changed then.</param>
    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, Guid? parentHostId = null, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(request.Token))
        {
            throw new DistException("EnrollmentTokenMissing", DistErrorKind.Unauthorized, "The registration carries no enrollment token.");
        }
        var secret = EnrollmentTokenText.TryParse(request.Token)?.Secret
            ?? throw new DistException("EnrollmentTokenInvalid", DistErrorKind.Unauthorized, "The enrollment token is not valid.");
        var name = Names.Require(request.Name, "Host");
        var kind = ParseKind(request.Kind);
        var credential = Secrets.NewSecret();
        var now = engine.Now;
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var tokenHash = Secrets.Hash(secret);
        var forRelays = kind == HostKind.Relay;
        // One statement checks the token and counts its use (this is on the path of every new client); the count is
        // undone with everything else when the registration is refused further on.
        if (await db.EnrollmentTokens.Where(t => t.TokenHash == tokenHash && t.ForRelays == forRelays
                    && (t.ExpiresAt == null || t.ExpiresAt > now) && (t.MaxUses == null || t.UseCount < t.MaxUses))
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.UseCount, t => t.UseCount + 1).SetProperty(t => t.LastUsedAt, now), cancellationToken) == 0)
        {
            throw await TokenRefusalAsync(db, tokenHash, forRelays, now, cancellationToken);
        }
        var key = Names.Key(name);
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.NameKey == key, cancellationToken);
        var isNew = host is null;
        if (host is not null && !(request.HostId == host.Id && request.Credential is { } held && Secrets.Matches(held, host.CredentialHash)))
        {
            throw new DistException("HostNameTaken", DistErrorKind.InvalidOperation,
                $"Host '{host.Name}' is enrolled with another credential; this registration was refused and the enrolled host was not changed. " +
                "If this computer replaces it, remove the old host first (Remove-DistHost).", host.Name);
        }
        if (host is null)
        {
            host = new HostRow { Id = Guid.NewGuid(), Name = name, NameKey = key, CredentialHash = "", RegisteredAt = now };
            db.Hosts.Add(host);
        }
        await CheckHigherSystemAsync(db, host, isNew, kind, parentHostId, cancellationToken);
        host.Name = name;
        host.Kind = kind;
        host.ParentHostId = parentHostId;
        host.RelayUrl = kind == HostKind.Relay ? request.RelayUrl : null;
        host.CredentialHash = Secrets.Hash(credential);
        host.LastSeen = now;
        var update = engine.Inventory.ApplyFacts(host, new FactsReport(request.OS, request.OSVersion, request.Architecture,
            request.Addresses ?? [], request.MacAddress, request.AgentVersion, request.Inventory));
        // A host's first connection (or changed facts at re-registration) is when ID group policies admit it.
        if (isNew)
        {
            var inventory = request.Inventory;
            // The host row first; then its memberships, evaluated from the facts just received, in one statement.
            await db.SaveChangesAsync(cancellationToken);
            await engine.Policies.ApplyToNewHostAsync(db, new HostFactSet(host.Id, host.Name, host.OS, host.OSVersion, host.Architecture,
                request.Addresses ?? [], inventory?.MacAddresses is { Count: > 0 } macs ? macs : request.MacAddress is { } mac ? [mac] : [],
                host.MemoryMB, host.CpuCount, new HashSet<string>(),
                (update.Software ?? []).Select(s => (s.Name, s.Version)).ToList()), cancellationToken);
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
        var signing = engine.SigningKeys.Current();
        return new RegisterResponse(host.Id, credential, signing.Signer.PublicKey, signing.Announcements(now) is { Count: > 0 } announcements ? announcements : null);
    }

    /// <summary>Why a token was refused: unknown (or removed), expired, used up, or made for the other kind of host.</summary>
    private static async Task<DistException> TokenRefusalAsync(DistDbContext db, string tokenHash, bool forRelays, DateTime now, CancellationToken cancellationToken)
    {
        var token = await db.EnrollmentTokens.AsNoTracking().FirstOrDefaultAsync(t => t.TokenHash == tokenHash, cancellationToken);
        return token switch
        {
            null => new DistException("EnrollmentTokenInvalid", DistErrorKind.Unauthorized, "The enrollment token is not valid (unknown, or removed)."),
            { ExpiresAt: { } until } when until <= now => new DistException("EnrollmentTokenExpired", DistErrorKind.Unauthorized,
                $"The enrollment token expired at {until:u}; New-DistEnrollmentToken makes a new one."),
            { MaxUses: { } max } when token.UseCount >= max => new DistException("EnrollmentTokenUsedUp", DistErrorKind.Unauthorized,
                $"The enrollment token has admitted its {max} registration(s); New-DistEnrollmentToken makes a new one."),
            _ when forRelays => new DistException("EnrollmentTokenNotForRelays", DistErrorKind.Unauthorized,
                "A relay registers only with a token made for relays (New-DistEnrollmentToken -Relay)."),
            _ => new DistException("EnrollmentTokenForRelays", DistErrorKind.Unauthorized,
                "This enrollment token is made for relays; a client registers with a token made without -Relay."),
        };
    }

    /// <summary>"Relay" is a relay; null, empty or "Client" is a client (case-insensitive); anything else is refused.</summary>
    private static HostKind ParseKind(string? kind)
    {
        if (string.IsNullOrWhiteSpace(kind))
        {
            return HostKind.Client;
        }
        if (HostKinds.Find(kind.Trim()) is { } known)
        {
            return Enum.Parse<HostKind>(known);
        }
        throw new DistException("HostKindInvalid", DistErrorKind.InvalidArgument,
            $"'{kind}' is not a kind of host; use {string.Join(" or ", HostKinds.All)}.", kind);
    }

    /// <summary>
    /// The higher system must be a registered relay other than the host itself and not below it (no cycles); a relay
    /// that still has lower hosts cannot become a client.
    /// </summary>
    private static async Task CheckHigherSystemAsync(DistDbContext db, HostRow host, bool isNew, HostKind kind, Guid? parentHostId, CancellationToken cancellationToken)
    {
        if (!isNew && host.Kind == HostKind.Relay && kind != HostKind.Relay && await db.Hosts.AnyAsync(h => h.ParentHostId == host.Id, cancellationToken))
        {
            throw new DistException("HostKindInvalid", DistErrorKind.InvalidOperation,
                $"Host '{host.Name}' is the higher system of other hosts; it must register as a Relay while they are below it.", host.Name);
        }
        if (parentHostId is not { } parentId)
        {
            return;
        }
        var parent = await db.Hosts.AsNoTracking().Where(h => h.Id == parentId).Select(h => new { h.Name, h.Kind }).FirstOrDefaultAsync(cancellationToken);
        string? problem = parent is null ? $"no host with id {parentId} is registered"
            : parent.Kind != HostKind.Relay ? $"host '{parent.Name}' is not a relay"
            : parentId == host.Id ? "a host cannot be its own higher system"
            : !isNew && await HostTree.IsAtOrBelowAsync(db, parentId, host.Id, cancellationToken) ? $"relay '{parent.Name}' is below '{host.Name}' (that would make a cycle)"
            : null;
        if (problem is not null)
        {
            throw new DistException("HigherSystemInvalid", DistErrorKind.InvalidArgument,
                $"Host '{host.Name}' cannot register under {parentId}: {problem}.", parentId);
        }
    }

    /// <summary>The host whose id and credential these are, or null.</summary>
    public async Task<Guid?> AuthenticateAsync(Guid hostId, string credential, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var hash = await db.Hosts.Where(h => h.Id == hostId).Select(h => h.CredentialHash).FirstOrDefaultAsync(cancellationToken);
        return hash is not null && Secrets.Matches(credential, hash) ? hostId : null;
    }

    /// <summary>Hosts whose names match the wildcard pattern, in tree order.</summary>
    public Task<IReadOnlyList<DistHost>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default) =>
        ListAsync(new HostQuery(namePattern), cancellationToken);

    /// <summary>
    /// Hosts in tree order: depth-first from the manager, the hosts below each relay sorted by name right after it.
    /// With a higher system, only the hosts directly below that relay (or at every level, with Recurse).
    /// </summary>
    public async Task<IReadOnlyList<DistHost>> ListAsync(HostQuery query, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var rows = await db.Hosts.AsNoTracking().OrderBy(h => h.NameKey).ToListAsync(cancellationToken);
        var byId = rows.ToDictionary(r => r.Id);
        IEnumerable<(HostRow Row, int Depth)> ordered = TreeOrder(rows, byId);
        if (query.HigherSystem is { } higherSystem)
        {
            var relay = RequireRelay(rows.FirstOrDefault(r => r.NameKey == Names.Key(higherSystem)), higherSystem);
            var below = query.Recurse
                ? HostTree.Below(rows.Where(r => r.ParentHostId != null).ToLookup(r => r.ParentHostId!.Value, r => r.Id), relay.Id)
                : rows.Where(r => r.ParentHostId == relay.Id).Select(r => r.Id).ToHashSet();
            ordered = ordered.Where(h => below.Contains(h.Row.Id));
        }
        var matcher = Wildcard.For(query.NamePattern);
        return ordered.Where(h => matcher(h.Row.Name))
            .Select(h => ToView(h.Row, h.Row.ParentHostId is { } parent && byId.TryGetValue(parent, out var p) ? p.Name : null, h.Depth))
            .ToList();
    }

    /// <summary>Depth-first from the hosts directly under the manager, children by name; a visited set guards against cycles.</summary>
    private static List<(HostRow Row, int Depth)> TreeOrder(List<HostRow> rowsByName, Dictionary<Guid, HostRow> byId)
    {
        var children = rowsByName.Where(r => r.ParentHostId is { } p && byId.ContainsKey(p)).ToLookup(r => r.ParentHostId!.Value);
        var result = new List<(HostRow, int)>(rowsByName.Count);
        var visited = new HashSet<Guid>();
        var pending = new Stack<(HostRow Row, int Depth)>();
        // Roots are the hosts under the manager; hosts left unvisited after the walk (only a hand-made cycle) come last.
        var roots = rowsByName.Where(r => r.ParentHostId is not { } p || !byId.ContainsKey(p)).Concat(rowsByName);
        foreach (var root in roots)
        {
            pending.Push((root, 0));
            while (pending.Count > 0)
            {
                var (row, depth) = pending.Pop();
                if (!visited.Add(row.Id))
                {
                    continue;
                }
                result.Add((row, depth));
                foreach (var child in children[row.Id].Reverse())
                {
                    pending.Push((child, depth + 1));
                }
            }
        }
        return result;
    }

    /// <summary>The row of a registered relay; HostNotFound or HostNotRelay otherwise.</summary>
    internal static HostRow RequireRelay(HostRow? row, string name) =>
        row is null ? throw HostNotFound(name)
        : row.Kind != HostKind.Relay ? throw HostNotRelay(row.Name)
        : row;

    internal static DistException HostNotRelay(string name) =>
        new("HostNotRelay", DistErrorKind.InvalidArgument,
            $"Host '{name}' is not a relay; only relays have lower clients and store packages for them (Get-DistHost shows each host's Kind).", name);

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
        // The hosts below a removed relay move up to its own higher system until they register again.
        await db.Hosts.Where(h => h.ParentHostId == host.Id).ExecuteUpdateAsync(s => s.SetProperty(h => h.ParentHostId, host.ParentHostId), cancellationToken);
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

    internal static DistHost ToView(HostRow row, string? higherSystem, int depth) => new(
        row.Name, row.Id, row.OS, row.OSVersion, row.Architecture,
        JsonSerializer.Deserialize<string[]>(row.AddressesJson) ?? [],
        row.MacAddress, row.AgentVersion, row.RegisteredAt.AsLocal(), row.LastSeen.AsLocal(),
        row.Kind, higherSystem ?? DistHost.ManagerHigherSystem, row.ParentHostId, depth, row.RelayUrl);
}
