using System.Security.Cryptography;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Security;

/// <summary>
/// Access keys: created with a name and a role, shown once, kept as the SHA-256 of their secret, and verified by the
/// manager's admin API for every request (<see cref="VerifyAsync"/>). A key's text is <c>jp1key.KEYID.SECRET</c>: KEYID (16
/// hex digits, not secret) finds the row, SECRET (32 random bytes) is compared with its hash in constant time. A fast hash is
/// right here: the secret is random and as long as a key, so there is nothing to guess that a slow hash would protect.
/// </summary>
public sealed class AccessKeyService(DistEngine engine) : IAccessKeyService
{
    /// <summary>The first part of every key's text: says what it is, in a log or a secret scanner.</summary>
    public const string Prefix = "jp1key";

    /// <summary>How stale LastUsedAt may get before a verification writes it again: one write a minute per key, not one per request.</summary>
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    /// <inheritdoc />
    public async Task<DistAccessKey> CreateAsync(NewAccessKeyRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var change = await engine.Audit.AuthorizeAsync(DistOperations.NewAccessKey, request.Name, cancellationToken);
        var name = Names.Require(request.Name, "AccessKey");
        if (!Enum.IsDefined(request.Role))
        {
            throw new DistException("AccessKeyRoleInvalid", DistErrorKind.InvalidArgument,
                $"'{request.Role}' is not a role; use Reader, Operator or Administrator.", request.Role);
        }
        if (request.ExpiresIn is { } span && (span <= TimeSpan.Zero || span > NewAccessKeyRequest.MaxExpiresIn))
        {
            throw new DistException("AccessKeyExpiryInvalid", DistErrorKind.InvalidArgument,
                $"-ExpiresIn must be more than zero and at most {NewAccessKeyRequest.MaxExpiresIn.TotalDays:0} days; it was {span}. Nothing was created.", span);
        }
        var keyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var secret = Secrets.NewSecret();
        var now = engine.Now;
        var row = new AccessKeyRow
        {
            Name = name,
            NameKey = Names.Key(name),
            Role = request.Role,
            KeyId = keyId,
            SecretHash = Secrets.Hash(secret),
            Description = request.Description,
            CreatedAt = now,
            CreatedBy = engine.Caller.Principal,
            ExpiresAt = request.ExpiresIn is { } expiresIn ? now + expiresIn : null,
        };
        await using var db = engine.Database.CreateContext();
        if (await db.AccessKeys.AnyAsync(k => k.NameKey == row.NameKey && k.RemovedAt == null, cancellationToken))
        {
            throw AlreadyExists(name);
        }
        db.AccessKeys.Add(row);
        change.Record(db, name, new { Name = name, Role = request.Role, ExpiresAt = row.ExpiresAt, request.Description, KeyId = keyId });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException e) when (StorageErrors.IsDuplicate(e))
        {
            throw AlreadyExists(name); // created by another process at the same moment
        }
        return ToView(row, $"{Prefix}.{keyId}.{secret}", now);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DistAccessKey>> ListAsync(string? namePattern = null, CancellationToken cancellationToken = default)
    {
        var matcher = Wildcard.For(namePattern);
        await using var db = engine.Database.CreateContext();
        var now = engine.Now;
        var rows = await db.AccessKeys.AsNoTracking().Where(k => k.RemovedAt == null).OrderBy(k => k.NameKey).ToListAsync(cancellationToken);
        return rows.Where(r => matcher(r.Name)).Select(r => ToView(r, null, now)).ToList();
    }

    /// <inheritdoc />
    public async Task RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemoveAccessKey, name, cancellationToken);
        var key = Names.Key(name ?? "");
        await using var db = engine.Database.CreateContext();
        var row = await db.AccessKeys.FirstOrDefaultAsync(k => k.NameKey == key && k.RemovedAt == null, cancellationToken)
            ?? throw new DistException("AccessKeyNotFound", DistErrorKind.NotFound,
                $"No access key named '{name}' exists; Get-DistAccessKey lists them.", name);
        row.RemovedAt = engine.Now;
        change.Record(db, row.Name, new { row.Name, row.Role, row.KeyId });
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// The caller a presented key stands for, coming from <paramref name="source"/> (the request's address): its name as the
    /// principal, its role. Refused with an Unauthorized DistException: AccessKeyMissing (none given), AccessKeyUnknown (not
    /// a key of this manager: malformed, an unknown id, or a secret that does not match), AccessKeyExpired, AccessKeyRemoved.
    /// A removed or expired key is told apart only for a caller who holds its secret. The admin API calls this for every
    /// request; the key is read from the database each time, so a removal refuses it from the next request on.
    /// </summary>
    public async Task<DistCaller> VerifyAsync(string? presented, string source, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(presented))
        {
            throw new DistException("AccessKeyMissing", DistErrorKind.Unauthorized, "No access key was presented.");
        }
        var parts = presented.Trim().Split('.');
        if (parts is not [Prefix, { Length: 16 } keyId, { Length: > 0 } secret])
        {
            throw Unknown();
        }
        await using var db = engine.Database.CreateContext();
        var row = await db.AccessKeys.AsNoTracking().FirstOrDefaultAsync(k => k.KeyId == keyId, cancellationToken);
        if (row is null || !Secrets.Matches(secret, row.SecretHash))
        {
            throw Unknown();
        }
        var now = engine.Now;
        if (row.RemovedAt is { } removed)
        {
            throw new DistException("AccessKeyRemoved", DistErrorKind.Unauthorized,
                $"Access key '{row.Name}' was removed at {removed.AsLocal():yyyy-MM-dd HH:mm:ss}; ask an administrator for a new key.", row.Name);
        }
        if (row.ExpiresAt is { } expires && expires <= now)
        {
            throw new DistException("AccessKeyExpired", DistErrorKind.Unauthorized,
                $"Access key '{row.Name}' expired at {expires.AsLocal():yyyy-MM-dd HH:mm:ss}; ask an administrator for a new key.", row.Name);
        }
        var stale = now - LastUsedResolution;
        await db.AccessKeys.Where(k => k.Id == row.Id && (k.LastUsedAt == null || k.LastUsedAt < stale))
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now), cancellationToken);
        return new DistCaller(row.Name, source, row.Role);
    }

    private static DistException Unknown() =>
        new("AccessKeyUnknown", DistErrorKind.Unauthorized, "The access key is not one of this manager's keys.");

    private static DistException AlreadyExists(string name) =>
        new("AccessKeyAlreadyExists", DistErrorKind.AlreadyExists,
            $"An access key named '{name}' already exists; remove it first (Remove-DistAccessKey) or choose another name.", name);

    private static DistAccessKey ToView(AccessKeyRow row, string? key, DateTime now) => new(
        row.Name, row.Role, key, row.KeyId, row.Description, row.CreatedAt.AsLocal(), row.CreatedBy, row.ExpiresAt.AsLocal(), row.LastUsedAt.AsLocal(),
        row.ExpiresAt is { } until && until <= now ? "Expired" : "Active");
}
