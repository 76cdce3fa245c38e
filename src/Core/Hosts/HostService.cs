using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Policies;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;
using JP1Dist.Protocol.Signing;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Hosts;

/// <summary>Why a credential was revoked (RevokedCredentialRow.Reason).</summary>
public static class RevocationReasons
{
    /// <summary>Remove-DistHost -Revoke.</summary>
    public const string Removed = "Removed";
    /// <summary>Deny-DistHost.</summary>
    public const string Denied = "Denied";
    /// <summary>Approve-DistHost -Replace: the replaced host's old credential.</summary>
    public const string Replaced = "Replaced";
}

/// <summary>
/// A registration's answer, and what the node that answers it does besides: wake the host's polls when it has work queued
/// (<paramref name="QueuedWork"/>), and for one that waits for approval, tell whether it would replace the enrolled host of
/// its name (<paramref name="ReplacesEnrolled"/>).
/// </summary>
public sealed record HostRegistration(RegisterResponse Response, bool QueuedWork, bool ReplacesEnrolled);

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
        var change = await engine.Audit.AuthorizeAsync(DistOperations.NewEnrollmentToken, request.Description, cancellationToken);
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
            RequireApproval = request.RequireApproval,
        };
        // The entry names the token by its id, which the first save assigns; both are saved in one transaction.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        db.EnrollmentTokens.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        change.Record(db, TokenTarget(row.Id), request);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
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
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveEnrollmentToken, TokenTarget(id), cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var token = await db.EnrollmentTokens.AsNoTracking().FirstOrDefaultAsync(t => t.Id == id, cancellationToken)
            ?? throw new DistException("EnrollmentTokenNotFound", DistErrorKind.NotFound,
                $"No enrollment token has id {id}; Get-DistEnrollmentToken lists them.", id);
        await db.EnrollmentTokens.Where(t => t.Id == id).ExecuteDeleteAsync(cancellationToken);
        change.Record(db, TokenTarget(id), new { token.Description, Relay = token.ForRelays, token.UseCount });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>How the audit log names an enrollment token: by its id (the secret is never recorded).</summary>
    private static string TokenTarget(int id) => id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static DistEnrollmentToken ToView(EnrollmentTokenRow row, string? text, DateTime now) => new(
        row.Id, text, row.Description, row.CreatedAt.AsLocal(), row.ExpiresAt.AsLocal(), row.MaxUses, row.UseCount, row.ForRelays,
        row.LastUsedAt.AsLocal(),
        row.ExpiresAt is { } until && until <= now ? "Expired" : row.MaxUses is { } max && row.UseCount >= max ? "UsedUp" : "Active",
        row.RequireApproval);

    /// <summary>
    /// Registers a host presenting a valid token (not expired, uses left; a relay only with a token made for relays,
    /// and such a token registers nothing else). A name belongs to the credential it was enrolled with: registering an
    /// enrolled name again is allowed only to the agent that proves it holds that host's current credential (it moved to
    /// another higher system, or re-enrolls), which keeps its id and history and gets a fresh credential; anyone else is
    /// refused (HostNameTaken) and the enrolled host is not touched. With a token that requires approval, a new host, or a
    /// computer registering under an enrolled name without its credential (a replacement), becomes a pending enrollment
    /// instead: it gets an id (a replacement: the enrolled host's) and a credential, and nothing else until approved.
    /// A registration presenting a pending credential is answered Pending again, or, once approved, as registered (no token
    /// use is counted for either); one presenting a revoked credential is refused (CredentialRevoked).
    /// </summary>
    /// <param name="request">The registration, with the host's kind (Relay or Client) and, for a relay, its URL.</param>
    /// <param name="parentHostId">
    /// The host's higher system: a registered relay it registered through, or null for the manager itself. A host that
    /// registers again moves to this parent; a move under one of its own lower hosts is refused.
    /// </param>
    /// <param name="cancellationToken">Cancels the registration until it is queued; nothing is changed then.</param>
    /// <remarks>
    /// Registrations share write transactions with each other and with reports (<see cref="DistEngine.Writes"/>): 10,000
    /// hosts enrolling at once would otherwise queue one by one for the database's write lock. Each runs whole inside the
    /// batch, after the ones before it: a token's last use goes to one of them, and of two new hosts of one name the second
    /// finds the first enrolled (HostNameTaken). A refused one is undone to its savepoint and the others are kept.
    /// </remarks>
    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, Guid? parentHostId = null, CancellationToken cancellationToken = default) =>
        (await RegisterForNodeAsync(request, parentHostId, cancellationToken)).Response;

    /// <summary>
    /// <see cref="RegisterAsync"/>, with what the node that answers needs to know besides the answer, found inside the
    /// registration's own write: whether the host has work queued (its polls and the relays above it are woken), and
    /// whether a registration waiting for approval would replace an enrolled host (the administrator's message says so).
    /// </summary>
    /// <remarks>
    /// Asked after the commit on a context of its own, each registration opened a database connection more; on SQLite
    /// every open and close registers and removes the SQL functions of EF Core's provider, which cost more CPU than the
    /// query itself. Inside the shared transaction it is one query on the connection the batch holds, and none for a new
    /// host that joined no ID group (it can have no target).
    /// </remarks>
    public async Task<HostRegistration> RegisterForNodeAsync(RegisterRequest request, Guid? parentHostId = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Once queued it runs to its end: the others of its batch do not depend on the caller that asked for it, and an
        // agent that gave up asks again with the credential it chose (answered as the host it became).
        // The credential a host gets if admitted, and the hashes the registration needs, are made before it queues: the shared
        // transaction, which every other write waits for, does only what must be in it.
        var credential = request.ChosenCredential ?? Secrets.NewSecret();
        var hashes = new RegistrationHashes(EnrollmentTokenText.TryParse(request.Token)?.Secret is { } secret ? Secrets.Hash(secret) : null, Secrets.Hash(credential));
        var enrolled = await engine.Writes.RunWholeAsync(async db =>
        {
            var outcome = await RegisterInAsync(db, request, parentHostId, credential, hashes, engine.Now, CancellationToken.None);
            return outcome.Pending || outcome.QueuedWork is not null ? outcome
                : outcome with { QueuedWork = await db.Targets.AnyAsync(t => t.HostId == outcome.HostId && t.Status == TargetStatus.Queued) };
        });
        // The signing key is read after the commit, outside the shared transaction that every other write waits for.
        return new HostRegistration(Answer(enrolled), enrolled.QueuedWork == true, enrolled.ReplacesEnrolled);
    }

    /// <summary>
    /// A registration inside the caller's write transaction; it commits nothing, and a refusal throws. <paramref name="credential"/>
    /// is what the host holds from now on if it is admitted or waits for approval (the one it chose, or a new secret).
    /// </summary>
    private async Task<Enrolled> RegisterInAsync(DistDbContext db, RegisterRequest request, Guid? parentHostId, string credential, RegistrationHashes hashes,
        DateTime now, CancellationToken cancellationToken)
    {
        if (request.HostId is { } heldId && request.Credential is { Length: > 0 } held)
        {
            var heldHash = Secrets.Hash(held);
            await ThrowIfRevokedAsync(db, heldId, heldHash, cancellationToken);
            var pending = await db.PendingEnrollments.FirstOrDefaultAsync(
                p => p.HostId == heldId && p.CredentialHash == heldHash && p.CollectedAt == null, cancellationToken);
            if (pending is { ApprovedAt: null })
            {
                // Still waiting: nothing changes, and the token is neither needed nor counted again.
                return new Enrolled(heldId, held, Pending: true);
            }
            if (pending is not null && await CollectApprovalAsync(db, pending, parentHostId, now, cancellationToken))
            {
                return new Enrolled(heldId, held);
            }
        }
        if (request.ChosenCredential is { } chosen && await AnswerAgainAsync(db, request.Name, chosen, parentHostId, cancellationToken) is { } repeated)
        {
            return repeated;
        }
        if (string.IsNullOrWhiteSpace(request.Token))
        {
            throw new DistException("EnrollmentTokenMissing", DistErrorKind.Unauthorized, "The registration carries no enrollment token.");
        }
        var tokenHash = hashes.Token
            ?? throw new DistException("EnrollmentTokenInvalid", DistErrorKind.Unauthorized, "The enrollment token is not valid.");
        var name = Names.Require(request.Name, "Host");
        var kind = ParseKind(request.Kind);
        var forRelays = kind == HostKind.Relay;
        // One statement checks the token and counts its use (this is on the path of every new client); the count is
        // undone with everything else when the registration is refused further on.
        if (await CountTokenUseAsync(db, tokenHash, forRelays, now, cancellationToken) == 0)
        {
            throw await TokenRefusalAsync(db, tokenHash, forRelays, now, cancellationToken);
        }
        var token = await TokenAdmissionQuery(db, tokenHash, cancellationToken);
        var key = Names.Key(name);
        var host = await HostNamedQuery(db, key, cancellationToken);
        // The host's credential proves the name: the one it holds, or the one it chose for a registration whose answer it
        // never received, asked again through another higher system (a move, like any registration that proves it).
        var proves = host is not null && ((request.HostId == host.Id && request.Credential is { } presented && Secrets.Matches(presented, host.CredentialHash))
            || (request.ChosenCredential is { } again && Secrets.Matches(again, host.CredentialHash)));
        if (host is not null && !proves && !token.RequireApproval)
        {
            throw new DistException("HostNameTaken", DistErrorKind.InvalidOperation,
                $"Host '{host.Name}' is enrolled with another credential; this registration was refused and the enrolled host was not changed. " +
                "If this computer replaces it, remove the old host first (Remove-DistHost).", host.Name);
        }
        if (token.RequireApproval && !proves)
        {
            return await AddPendingAsync(db, request, name, kind, parentHostId, host, token.Id, credential, hashes.Credential, now, cancellationToken);
        }
        var isNew = host is null;
        if (host is null)
        {
            host = new HostRow { Id = Guid.NewGuid(), Name = name, NameKey = key, CredentialHash = "", RegisteredAt = now };
            db.Hosts.Add(host);
        }
        await CheckHigherSystemAsync(db, host, isNew, kind, parentHostId, cancellationToken);
        var mayHaveWork = await AdmitAsync(db, host, isNew, name, request, kind, parentHostId, hashes.Credential, now, cancellationToken);
        return new Enrolled(host.Id, credential, QueuedWork: mayHaveWork ? null : false);
    }

    // The queries every new host's registration makes inside the shared write, compiled once: EF Core otherwise walks the
    // expression tree and looks it up in its query cache on every call, which cost more than running the query.

    /// <summary>What the token a registration just counted admits: its id, and whether the host waits for approval.</summary>
    private sealed record TokenAdmission(int Id, bool RequireApproval);

    private static readonly Func<DistDbContext, string, CancellationToken, Task<TokenAdmission>> TokenAdmissionQuery = EF.CompileAsyncQuery(
        (DistDbContext db, string tokenHash, CancellationToken cancellationToken) =>
            db.EnrollmentTokens.AsNoTracking().Where(t => t.TokenHash == tokenHash).Select(t => new TokenAdmission(t.Id, t.RequireApproval)).First());

    /// <summary>The enrolled host of a name key (tracked: the registration updates it).</summary>
    private static readonly Func<DistDbContext, string, CancellationToken, Task<HostRow?>> HostNamedQuery = EF.CompileAsyncQuery(
        (DistDbContext db, string key, CancellationToken cancellationToken) => db.Hosts.FirstOrDefault(h => h.NameKey == key));

    /// <summary>
    /// The answer to a registration asked again with the credential the node chose for it, after the answer to the first
    /// ask was lost (a timeout, a cut connection, the manager stopped after its commit): the host of that name holds that
    /// credential (or its enrollment waits for approval with it), so it is answered as the first time, with nothing changed
    /// and no token use counted. Also when it reaches the manager itself, standing in for the relay the host registered
    /// through: that relay may have kept the host from the first answer, and a host moved from under it would leave it
    /// taking the host's reports, which the manager refuses from it (HostNotBelowRelay). Null when it is not a repeat, or
    /// when it comes through a relay the host is not below (that relay keeps the host as its client from this answer, so
    /// it registers as a move).
    /// </summary>
    private async Task<Enrolled?> AnswerAgainAsync(DistDbContext db, string name, string chosen, Guid? parentHostId, CancellationToken cancellationToken)
    {
        var key = Names.Key(Names.Require(name, "Host"));
        var hash = Secrets.Hash(chosen);
        var host = await db.Hosts.AsNoTracking().Where(h => h.NameKey == key && h.CredentialHash == hash)
            .Select(h => new { h.Id, h.ParentHostId }).FirstOrDefaultAsync(cancellationToken);
        if (host is not null)
        {
            return parentHostId is null || host.ParentHostId == parentHostId ? new Enrolled(host.Id, chosen) : null;
        }
        var pending = await db.PendingEnrollments.AsNoTracking().Where(p => p.NameKey == key && p.CredentialHash == hash && p.CollectedAt == null)
            .Select(p => (Guid?)p.HostId).FirstOrDefaultAsync(cancellationToken);
        return pending is { } pendingId
            ? new Enrolled(pendingId, chosen, Pending: true, ReplacesEnrolled: await db.Hosts.AnyAsync(h => h.Id == pendingId, cancellationToken))
            : null;
    }

    /// <summary>
    /// Makes a host row what a registration says: name, kind, place in the tree, credential and facts, and its ID group
    /// memberships (a new host's, from the facts it sent; an enrolled one's only when its facts changed). The one path
    /// by which a host is admitted, at registration and at approval; it runs in the caller's transaction. False when the
    /// host can have no work queued: a new host that joined no ID group.
    /// </summary>
    private async Task<bool> AdmitAsync(DistDbContext db, HostRow host, bool isNew, string name, RegisterRequest request, HostKind kind, Guid? parentHostId,
        string credentialHash, DateTime now, CancellationToken cancellationToken)
    {
        host.Name = name;
        host.Kind = kind;
        host.ParentHostId = parentHostId;
        host.RelayUrl = kind == HostKind.Relay ? request.RelayUrl : null;
        host.CredentialHash = credentialHash;
        host.LastSeen = now;
        var update = engine.Inventory.ApplyFacts(host, new FactsReport(request.OS, request.OSVersion, request.Architecture,
            request.Addresses ?? [], request.MacAddress, request.AgentVersion, request.Inventory));
        // A host's first connection (or changed facts at re-registration) is when ID group policies admit it.
        if (isNew)
        {
            var inventory = request.Inventory;
            // The host row first; then its memberships, evaluated from the facts just received, in one statement.
            await db.SaveChangesAsync(cancellationToken);
            var (joined, _) = await engine.Policies.ApplyToNewHostAsync(db, new HostFactSet(host.Id, host.Name, host.OS, host.OSVersion, host.Architecture,
                request.Addresses ?? [], inventory?.MacAddresses is { Count: > 0 } macs ? macs : request.MacAddress is { } mac ? [mac] : [],
                host.MemoryMB, host.CpuCount, new HashSet<string>(),
                (update.Software ?? []).Select(s => (s.Name, s.Version)).ToList()), cancellationToken);
            if (update.Software is { Count: > 0 } software)
            {
                await engine.Inventory.WriteSoftwareAsync(db, host.Id, software, replace: false, cancellationToken);
            }
            return joined > 0;
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
                await engine.Policies.ApplyAsync(db, [host.Id], null, cancellationToken, hostsTalking: true);
            }
            return true;
        }
    }

    /// <summary>
    /// The answer to a registration: the key that signs now, and the announcements of keys still in their grace period (an
    /// agent whose token names a key replaced lately follows them to the current one).
    /// </summary>
    private RegisterResponse Answer(Enrolled enrolled)
    {
        var signing = engine.SigningKeys.Current();
        return new RegisterResponse(enrolled.HostId, enrolled.Credential, signing.Signer.PublicKey,
            signing.Announcements(engine.Now) is { Count: > 0 } announcements ? announcements : null, enrolled.Pending);
    }

    /// <summary>The hashes a registration needs, made before it queues: of the token's secret (null: not a token), and of the credential it would hold.</summary>
    private sealed record RegistrationHashes(string? Token, string Credential);

    /// <summary>
    /// What a registration decided: the host's id, the credential it holds from now on, and whether it waits for approval;
    /// whether it has work queued (null: not known yet, asked before the commit) and, when it waits, whether it would replace
    /// an enrolled host (told only where the node says so: a first request).
    /// </summary>
    private sealed record Enrolled(Guid HostId, string Credential, bool Pending = false, bool? QueuedWork = null, bool ReplacesEnrolled = false);

    /// <summary>
    /// Records a registration that waits for approval; one waits per name (HostNamePending otherwise). A replacement (an
    /// enrolled name without its credential) gets the enrolled host's id, which is not touched.
    /// </summary>
    private async Task<Enrolled> AddPendingAsync(DistDbContext db, RegisterRequest request, string name, HostKind kind, Guid? parentHostId,
        HostRow? enrolled, int tokenId, string credential, string credentialHash, DateTime now, CancellationToken cancellationToken)
    {
        var key = Names.Key(name);
        if (await db.PendingEnrollments.AnyAsync(p => p.NameKey == key && p.ApprovedAt == null, cancellationToken))
        {
            throw new DistException("HostNamePending", DistErrorKind.InvalidOperation,
                $"A registration of host '{name}' already waits for approval; this one was refused. An administrator approves or denies the waiting one first " +
                "(Get-DistHost -Pending, Approve-DistHost, Deny-DistHost).", name);
        }
        var hostId = enrolled?.Id ?? Guid.NewGuid();
        // The higher system is checked now, as for a registration, and again at approval.
        await CheckHigherSystemAsync(db, enrolled ?? new HostRow { Id = hostId, Name = name, NameKey = key, CredentialHash = "" }, enrolled is null, kind,
            parentHostId, cancellationToken);
        db.PendingEnrollments.Add(new PendingEnrollmentRow
        {
            HostId = hostId,
            Name = name,
            NameKey = key,
            Kind = kind,
            ParentHostId = parentHostId,
            RegistrationJson = JsonSerializer.Serialize(request with { Token = "", HostId = null, Credential = null, ChosenCredential = null }, ProtocolJson.Options),
            CredentialHash = credentialHash,
            TokenId = tokenId,
            RequestedAt = now,
            ReplacesHostId = enrolled?.Id,
        });
        await db.SaveChangesAsync(cancellationToken);
        return new Enrolled(hostId, credential, Pending: true, ReplacesEnrolled: enrolled is not null);
    }

    /// <summary>
    /// An approved host's agent collects its approval: it registers with the credential it got while pending (the host's
    /// credential since the approval), from where it is now. False when that host is gone or holds another credential since.
    /// </summary>
    private static async Task<bool> CollectApprovalAsync(DistDbContext db, PendingEnrollmentRow pending, Guid? parentHostId, DateTime now, CancellationToken cancellationToken)
    {
        pending.CollectedAt = now;
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.Id == pending.HostId, cancellationToken);
        if (host is null || !string.Equals(host.CredentialHash, pending.CredentialHash, StringComparison.Ordinal))
        {
            await db.SaveChangesAsync(cancellationToken);
            return false;
        }
        if (host.ParentHostId != parentHostId)
        {
            await CheckHigherSystemAsync(db, host, isNew: false, host.Kind, parentHostId, cancellationToken);
            host.ParentHostId = parentHostId;
        }
        host.LastSeen = now;
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    /// <summary>Refuses a revoked credential: CredentialRevoked (401), naming the host and why.</summary>
    private static async Task ThrowIfRevokedAsync(DistDbContext db, Guid hostId, string credentialHash, CancellationToken cancellationToken)
    {
        var revoked = await db.RevokedCredentials.AsNoTracking().Where(r => r.HostId == hostId && r.CredentialHash == credentialHash)
            .Select(r => new { r.Name, r.Reason, r.RevokedAt }).FirstOrDefaultAsync(cancellationToken);
        if (revoked is not null)
        {
            var why = revoked.Reason switch
            {
                RevocationReasons.Denied => "its enrollment was denied (Deny-DistHost)",
                RevocationReasons.Replaced => "another computer replaced it (Approve-DistHost -Replace)",
                _ => "the host was removed with Remove-DistHost -Revoke",
            };
            throw new DistException(RevokedCredential.ErrorId, DistErrorKind.Unauthorized,
                $"The credential of host '{revoked.Name}' ({hostId}) was revoked at {revoked.RevokedAt:u}: {why}. It is refused from now on, and registering "
                + "again with it is refused too; to enroll this computer again, clear its state folder and give it a new enrollment token.", hostId);
        }
    }

    /// <summary>
    /// Counts a use of the token with this hash if it admits a registration now (of a relay or not, unexpired, uses left),
    /// in one statement written from the model (<see cref="ModelCommands{TEntity}"/>): on the path of every new client, and
    /// through EF Core's ExecuteUpdate, which cannot be compiled (dotnet/efcore#36741), its expression tree was walked and
    /// its SQL made again for each. Returns the rows changed: 1, or 0 when the token does not admit it.
    /// </summary>
    private static async Task<int> CountTokenUseAsync(DistDbContext db, string tokenHash, bool forRelays, DateTime now, CancellationToken cancellationToken)
    {
        using var tokens = new ModelCommands<EnrollmentTokenRow>(db);
        var command = tokens.For(0, sql =>
        {
            string C(string property) => sql.Column(property);
            var (uses, expires, maxUses) = (C(nameof(EnrollmentTokenRow.UseCount)), C(nameof(EnrollmentTokenRow.ExpiresAt)), C(nameof(EnrollmentTokenRow.MaxUses)));
            return $"UPDATE {sql.Table} SET {uses} = {uses} + 1, {C(nameof(EnrollmentTokenRow.LastUsedAt))} = {sql.Parameter("now")}"
                + $" WHERE {C(nameof(EnrollmentTokenRow.TokenHash))} = {sql.Parameter("hash")} AND {C(nameof(EnrollmentTokenRow.ForRelays))} = {sql.Parameter("relays")}"
                + $" AND ({expires} IS NULL OR {expires} > {sql.Parameter("expiresAfter")}) AND ({maxUses} IS NULL OR {uses} < {maxUses})";
        });
        tokens.Bind(command, "now", nameof(EnrollmentTokenRow.LastUsedAt), now);
        tokens.Bind(command, "hash", nameof(EnrollmentTokenRow.TokenHash), tokenHash);
        tokens.Bind(command, "relays", nameof(EnrollmentTokenRow.ForRelays), forRelays);
        tokens.Bind(command, "expiresAfter", nameof(EnrollmentTokenRow.ExpiresAt), now);
        return await tokens.ExecuteAsync(command, cancellationToken);
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

    /// <summary>The host whose id and credential these are, or null; a revoked credential is refused with CredentialRevoked.</summary>
    public async Task<Guid?> AuthenticateAsync(Guid hostId, string credential, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var hash = await db.Hosts.Where(h => h.Id == hostId).Select(h => h.CredentialHash).FirstOrDefaultAsync(cancellationToken);
        if (hash is not null && Secrets.Matches(credential, hash))
        {
            return hostId;
        }
        await ThrowIfRevokedAsync(db, hostId, Secrets.Hash(credential), cancellationToken);
        return null;
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
        // A group's hosts as a job to the group reaches them: the same rule (nested host groups, current ID group members).
        if (query.HostGroup is { } hostGroup)
        {
            var groupIds = (await Groups.HostGroupService.FindRowsAsync(db, [hostGroup], cancellationToken)).Select(g => g.Id).ToList();
            var inGroup = (await Groups.HostGroupService.HostsOfAsync(db, groupIds, cancellationToken)).Select(h => h.Id).ToHashSet();
            ordered = ordered.Where(h => inGroup.Contains(h.Row.Id));
        }
        if (query.IdGroup is { } idGroup)
        {
            var group = await Groups.IdGroupService.FindRowAsync(db, idGroup, cancellationToken);
            var members = (await Groups.IdGroupService.MembersOfAsync(db, group.Id, cancellationToken)).Select(h => h.Id).ToHashSet();
            ordered = ordered.Where(h => members.Contains(h.Row.Id));
        }
        var matcher = Wildcard.For(query.NamePattern);
        var power = await HostPower.LatestAsync(db, engine.Now, cancellationToken);
        return ordered.Where(h => matcher(h.Row.Name))
            .Select(h => ToView(h.Row, h.Row.ParentHostId is { } parent && byId.TryGetValue(parent, out var p) ? p.Name : null, h.Depth)
                with { PowerStatus = power.GetValueOrDefault(h.Row.Id) })
            .ToList();
    }

    /// <summary>
    /// Start-DistHost: wakes the hosts whose names match (<see cref="HostWake"/>). The address and port are checked before
    /// anything is sent; HostNotFound when no host matches. Audited as one change naming the pattern, with the outcome per host.
    /// </summary>
    public async Task<IReadOnlyList<DistHostWake>> WakeAsync(WakeHostsRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.NamePattern))
        {
            throw new DistException("HostNameMissing", DistErrorKind.InvalidArgument, "Name the hosts to wake: a name, or a wildcard pattern such as 'sales-*'.");
        }
        var pattern = request.NamePattern.Trim();
        var change = await engine.Audit.AuthorizeAsync(DistOperations.StartHost, pattern, cancellationToken);
        var address = HostWake.ParseAddress(request.BroadcastAddress, "The broadcast address");
        var port = HostWake.CheckPort(request.Port);
        IReadOnlyList<DistHostWake> results;
        await using (var db = engine.Database.CreateContext())
        {
            var matcher = Wildcard.For(pattern);
            var hosts = (await HostWake.Select(db.Hosts.AsNoTracking().OrderBy(h => h.NameKey)).ToListAsync(cancellationToken))
                .Where(h => matcher(h.Name)).ToList();
            if (hosts.Count == 0)
            {
                throw HostNotFound(pattern);
            }
            results = await new HostWake(engine).WakeAsync(db, hosts, address, port, cancellationToken);
            change.Record(db, pattern, new { request.BroadcastAddress, Port = port, Outcomes = results.Select(r => $"{r.HostName}: {r.Outcome}").ToList() });
            await db.SaveChangesAsync(cancellationToken);
        }
        if (results.Any(r => r.Outcome == WakeOutcome.AskedOfRelay))
        {
            await engine.Managers.NudgeAsync(cancellationToken); // the relays' polls answer with the orders at once
        }
        return results;
    }

    /// <summary>
    /// Stop-DistHost: a signed shutdown order for each host whose name matches (<see cref="HostPower"/>), found by its agent
    /// with its work. The grace is checked before anything is recorded; HostNotFound when no host matches. Audited as one
    /// change naming the pattern and the hosts.
    /// </summary>
    public async Task<IReadOnlyList<DistHostPower>> StopAsync(StopHostsRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.NamePattern))
        {
            throw new DistException("HostNameMissing", DistErrorKind.InvalidArgument, "Name the hosts to shut down: a name, or a wildcard pattern such as 'sales-*'.");
        }
        var pattern = request.NamePattern.Trim();
        if (request.GraceSeconds is < 0 or > StopHostsRequest.MaxGraceSeconds)
        {
            throw new DistException("GraceOutOfRange", DistErrorKind.InvalidArgument,
                $"A grace of {request.GraceSeconds} s is out of range: use 0 to {StopHostsRequest.MaxGraceSeconds} seconds.", request.GraceSeconds);
        }
        var change = await engine.Audit.AuthorizeAsync(DistOperations.StopHost, pattern, cancellationToken);
        IReadOnlyList<DistHostPower> results;
        await using (var db = engine.Database.CreateContext())
        {
            var matcher = Wildcard.For(pattern);
            var hosts = (await db.Hosts.AsNoTracking().OrderBy(h => h.NameKey).Select(h => new { h.Id, h.Name }).ToListAsync(cancellationToken))
                .Where(h => matcher(h.Name)).Select(h => (h.Id, h.Name)).ToList();
            if (hosts.Count == 0)
            {
                throw HostNotFound(pattern);
            }
            results = HostPower.Order(engine, db, hosts, request.GraceSeconds);
            change.Record(db, pattern, new { request.GraceSeconds, Hosts = hosts.Select(h => h.Name).ToList() });
            await db.SaveChangesAsync(cancellationToken);
        }
        await engine.Managers.NudgeAsync(cancellationToken); // waiting polls answer with the orders at once
        return results;
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
    public Task RemoveAsync(string name, bool force, CancellationToken cancellationToken = default) => RemoveAsync(name, force, revoke: false, cancellationToken);

    /// <summary>
    /// Removes a host and its targets; refused while it has unfinished targets unless forced. With <paramref name="revoke"/>,
    /// its credential goes on the revocation list in the same transaction: the manager and every relay refuse it from then on.
    /// </summary>
    public async Task RemoveAsync(string name, bool force, bool revoke, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveHost, name, cancellationToken);
        await using (var db = engine.Database.CreateContext())
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var key = Names.Key(name);
            var host = await db.Hosts.FirstOrDefaultAsync(h => h.NameKey == key, cancellationToken) ?? throw HostNotFound(name);
            var busy = await db.Targets.CountAsync(t => t.HostId == host.Id && !FinalStatuses.Contains(t.Status), cancellationToken);
            if (busy > 0 && !force)
            {
                throw new DistException("HostBusy", DistErrorKind.InvalidOperation,
                    $"Host '{host.Name}' has {busy} unfinished job target(s); wait for them, or use -Force.", host.Name);
            }
            await Jobs.TargetCounts.RemoveAsync(db, db.Targets.Where(t => t.HostId == host.Id), cancellationToken);
            await db.JobDestinations.Where(d => d.HostId == host.Id).ExecuteDeleteAsync(cancellationToken);
            // The hosts below a removed relay move up to its own higher system until they register again.
            await db.Hosts.Where(h => h.ParentHostId == host.Id).ExecuteUpdateAsync(s => s.SetProperty(h => h.ParentHostId, host.ParentHostId), cancellationToken);
            db.Hosts.Remove(host);
            if (revoke)
            {
                db.RevokedCredentials.Add(Revocation(host.Id, host.CredentialHash, host.Name, RevocationReasons.Removed));
            }
            change.Record(db, host.Name, new { Force = force, Revoke = revoke, HostId = host.Id });
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        if (revoke)
        {
            await engine.Managers.NudgeAsync(cancellationToken); // the manager and, through their polls, the relays refuse it now
        }
    }

    private RevokedCredentialRow Revocation(Guid hostId, string credentialHash, string name, string reason) =>
        new() { HostId = hostId, CredentialHash = credentialHash, Name = name, Reason = reason, RevokedAt = engine.Now };

    /// <summary>The registrations waiting for approval whose names match the pattern, by name.</summary>
    public async Task<IReadOnlyList<DistPendingHost>> ListPendingAsync(string? namePattern = null, CancellationToken cancellationToken = default)
    {
        var matcher = Wildcard.For(namePattern);
        await using var db = engine.Database.CreateContext();
        var rows = (await db.PendingEnrollments.AsNoTracking().Where(p => p.ApprovedAt == null).OrderBy(p => p.NameKey).ToListAsync(cancellationToken))
            .Where(p => matcher(p.Name)).ToList();
        if (rows.Count == 0)
        {
            return [];
        }
        var tokenIds = rows.Where(r => r.TokenId != null).Select(r => r.TokenId!.Value).Distinct().ToList();
        var tokens = await db.EnrollmentTokens.AsNoTracking().Where(t => tokenIds.Contains(t.Id)).ToDictionaryAsync(t => t.Id, t => t.Description, cancellationToken);
        var related = rows.Select(r => r.HostId).Concat(rows.Where(r => r.ParentHostId != null).Select(r => r.ParentHostId!.Value)).Distinct().ToList();
        var hosts = await db.Hosts.AsNoTracking().Where(h => related.Contains(h.Id)).ToDictionaryAsync(h => h.Id, h => h.Name, cancellationToken);
        return rows.Select(r =>
        {
            var registration = ReadRegistration(r);
            return new DistPendingHost(r.Name, r.HostId, r.Kind, registration.OS ?? "", registration.OSVersion ?? "", registration.Architecture ?? "",
                registration.Addresses ?? [], registration.MacAddress, registration.AgentVersion ?? "", r.RequestedAt.AsLocal(), r.TokenId,
                r.TokenId is { } id ? tokens.GetValueOrDefault(id) : null,
                r.ParentHostId is { } parent ? hosts.GetValueOrDefault(parent) ?? parent.ToString() : DistHost.ManagerHigherSystem,
                hosts.ContainsKey(r.HostId));
        }).ToList();
    }

    private static RegisterRequest ReadRegistration(PendingEnrollmentRow row) =>
        JsonSerializer.Deserialize<RegisterRequest>(row.RegistrationJson, ProtocolJson.Options)
        ?? throw new InvalidOperationException($"The stored registration of pending host '{row.Name}' is empty.");

    /// <summary>
    /// Approves the pending registration of this name: the host is admitted as at registration (ID group policies apply at
    /// once). A replacement needs <paramref name="replace"/>: the enrolled host keeps its id, history, groups and jobs, takes
    /// the pending credential, and its old credential is revoked. The agent collects the approval at its next registration.
    /// </summary>
    public async Task<DistHost> ApproveAsync(string name, bool replace, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.ApproveHost, name, cancellationToken);
        var now = engine.Now;
        DistHost approved;
        await using (var db = engine.Database.CreateContext())
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var pending = await FindPendingAsync(db, name, cancellationToken);
            var registration = ReadRegistration(pending);
            var host = await db.Hosts.FirstOrDefaultAsync(h => h.Id == pending.HostId, cancellationToken);
            var isNew = host is null;
            if (host is not null)
            {
                if (!replace)
                {
                    throw new DistException("HostReplaceRequired", DistErrorKind.InvalidOperation,
                        $"The registration of '{pending.Name}' waiting for approval would replace the enrolled host '{host.Name}' (its id, history, groups and jobs "
                        + "would pass to the new computer, and the old credential would be refused); approve it with -Replace, or refuse it with Deny-DistHost. "
                        + "Nothing was changed.", pending.Name);
                }
                db.RevokedCredentials.Add(Revocation(host.Id, host.CredentialHash, host.Name, RevocationReasons.Replaced));
            }
            else
            {
                if (await db.Hosts.AsNoTracking().Where(h => h.NameKey == pending.NameKey).Select(h => h.Name).FirstOrDefaultAsync(cancellationToken) is { } enrolled)
                {
                    throw new DistException("HostNameTaken", DistErrorKind.InvalidOperation,
                        $"Host '{enrolled}' was enrolled by another computer after this registration asked; refuse this one with Deny-DistHost, or remove "
                        + "the enrolled host first (Remove-DistHost). Nothing was changed.", pending.Name);
                }
                host = new HostRow { Id = pending.HostId, Name = pending.Name, NameKey = pending.NameKey, CredentialHash = "", RegisteredAt = now };
                db.Hosts.Add(host);
            }
            await CheckHigherSystemAsync(db, host, isNew, pending.Kind, pending.ParentHostId, cancellationToken);
            await AdmitAsync(db, host, isNew, pending.Name, registration, pending.Kind, pending.ParentHostId, pending.CredentialHash, now, cancellationToken);
            pending.ApprovedAt = now;
            pending.RegistrationJson = "{}"; // the facts are the host's now
            change.Record(db, pending.Name, new { Replace = replace, HostId = host.Id, ReplacedHost = isNew ? null : host.Name });
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            var higher = host.ParentHostId is { } parent
                ? await db.Hosts.AsNoTracking().Where(h => h.Id == parent).Select(h => h.Name).FirstOrDefaultAsync(cancellationToken)
                : null;
            approved = ToView(host, higher, 0);
        }
        // Its agent waits to collect the approval, its ID group jobs may be queued, and a replaced credential is refused now.
        await engine.Managers.NudgeAsync(cancellationToken);
        return approved;
    }

    /// <summary>Refuses the pending registration of this name: its credential is revoked, so the agent is refused and stops.</summary>
    public async Task DenyAsync(string name, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.DenyHost, name, cancellationToken);
        await using (var db = engine.Database.CreateContext())
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var pending = await FindPendingAsync(db, name, cancellationToken);
            db.RevokedCredentials.Add(Revocation(pending.HostId, pending.CredentialHash, pending.Name, RevocationReasons.Denied));
            db.PendingEnrollments.Remove(pending);
            change.Record(db, pending.Name, new { HostId = pending.HostId });
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        await engine.Managers.NudgeAsync(cancellationToken);
    }

    /// <summary>The registration of this name that waits for approval; HostNotPending for an enrolled host, PendingHostNotFound otherwise.</summary>
    private static async Task<PendingEnrollmentRow> FindPendingAsync(DistDbContext db, string name, CancellationToken cancellationToken)
    {
        var key = Names.Key(Names.Require(name, "Host"));
        if (await db.PendingEnrollments.FirstOrDefaultAsync(p => p.NameKey == key && p.ApprovedAt == null, cancellationToken) is { } pending)
        {
            return pending;
        }
        if (await db.Hosts.AsNoTracking().Where(h => h.NameKey == key).Select(h => h.Name).FirstOrDefaultAsync(cancellationToken) is { } enrolled)
        {
            throw new DistException("HostNotPending", DistErrorKind.InvalidOperation,
                $"Host '{enrolled}' is enrolled, not waiting for approval; Get-DistHost -Pending lists the registrations that wait.", name);
        }
        throw new DistException("PendingHostNotFound", DistErrorKind.NotFound,
            $"No registration of a host named '{name}' waits for approval; Get-DistHost -Pending lists the registrations that wait.", name);
    }

    /// <summary>The hosts named; every one must be registered, else HostNotFound names the unknown ones.</summary>
    internal static async Task<List<HostRow>> FindHostsAsync(DistDbContext db, IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        var wanted = names.Where(n => !string.IsNullOrWhiteSpace(n)).Select(n => n.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (wanted.Count == 0)
        {
            return [];
        }
        // The keys go as one parameter, however many (DistDatabase: a job naming 100,000 hosts). Not tracked: callers only read the rows.
        var keys = wanted.Select(Names.Key).ToList();
        var rows = await db.Hosts.AsNoTracking().Where(h => keys.Contains(h.NameKey)).ToListAsync(cancellationToken);
        var found = rows.Select(r => r.NameKey).ToHashSet(StringComparer.Ordinal);
        var unknown = wanted.Where(n => !found.Contains(Names.Key(n))).ToList();
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
