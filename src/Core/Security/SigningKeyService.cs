using System.Collections.Concurrent;
using System.Security.Cryptography;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Security;

/// <summary>
/// The key that signs now, and what every signature made with an older one needs: <see cref="Signed"/> tells whether a
/// stored signature was made by this key, and <see cref="Announcements"/> are the announcements of keys still in their
/// grace period, oldest first.
/// </summary>
public sealed record CurrentSigningKey(ManifestSigner Signer, string Fingerprint, IReadOnlyList<(SigningKeyAnnouncement Announcement, string OldFingerprint)> AllAnnouncements)
{
    /// <summary>
    /// Whether a signature recorded with key <paramref name="fingerprint"/> is this key's. A signature stored before keys
    /// were recorded (null) counts as another key's: it is signed again once, when first served, so that it cannot be a
    /// signature of a key that was lost and replaced.
    /// </summary>
    public bool Signed(string? fingerprint) => string.Equals(fingerprint, Fingerprint, StringComparison.Ordinal);

    /// <summary>The announcements whose old key has not retired at <paramref name="now"/> (UTC), oldest first: what nodes are sent.</summary>
    /// <remarks>Every poll's answer asks: with no rotation recorded (most managers, most of the time) it allocates nothing.</remarks>
    public IReadOnlyList<SigningKeyAnnouncement> Announcements(DateTime now) => AllAnnouncements.Count == 0
        ? Array.Empty<SigningKeyAnnouncement>() // (not `[]`: beside a List it would be a new List)
        : AllAnnouncements.Where(a => a.Announcement.OldKeyRetiresAt > now).Select(a => a.Announcement).ToList();
}

/// <summary>
/// The manager's signing keys: the first one (<c>keys/manifest-signing.pem</c>) and those made by rotations
/// (<c>keys/signing-FINGERPRINT.pem</c>), recorded in the SigningKeys table, the highest id being the current key. The
/// database decides which key signs, not a process: every use reads the current key's row (one small query), so a key
/// replaced by a cmdlet in another process signs in a running manager from its next answer, without a restart.
/// </summary>
/// <remarks>
/// A rotation writes the new key's file in full (owner-only, flushed to disk) before one transaction records it, sets the
/// old key's retirement and stores the old key's signed announcement; so a crash leaves either an unrecorded file (never
/// used, removed by a later rotation) or a recorded key with its file. The transaction is a compare-and-set on the old
/// key (not yet replaced; one successor per key by a unique index), so of two rotations at once, one wins and the other
/// changes nothing.
/// </remarks>
public sealed class SigningKeyService(DistEngine engine, SigningKeyService? sharing = null) : ISigningKeyService
{
    /// <summary>The file of the first key, kept under its original name so data folders of earlier versions keep their key.</summary>
    public const string FirstKeyFileName = "manifest-signing.pem";

    /// <summary>How old an unrecorded key file (left by a rotation that crashed) must be before a rotation removes it.</summary>
    public static readonly TimeSpan OrphanAge = TimeSpan.FromHours(1);

    /// <summary>Keys loaded in this process; the engine of another caller (<see cref="DistEngine.As"/>) shares its local engine's.</summary>
    private readonly LoadedKeys _keys = sharing?._keys ?? new();

    private sealed class LoadedKeys
    {
        public readonly ConcurrentDictionary<string, ManifestSigner> Signers = new(StringComparer.Ordinal);
        public readonly Lock Gate = new();
        public (int Id, CurrentSigningKey Key)? Cached;

        /// <summary>When the newest key row was last read (<see cref="Environment.TickCount64"/>): <see cref="Cached"/> is trusted until <see cref="Freshness"/> later.</summary>
        public long CheckedAt;
    }

    /// <summary>
    /// How long the current key, once read, is used without reading the newest key row again. A rotation in this process
    /// takes effect at once, and in every running manager it nudges (<see cref="Forget"/>) before the cmdlet returns; in a
    /// manager the nudge missed, within this time. Until then the old key signs, which every agent still trusts: a rotation always leaves the old key a grace
    /// period, and the new key's announcement reaches the agents with the answers that follow.
    /// </summary>
    public static readonly TimeSpan Freshness = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The key that signs now. Reads the newest key row at most once per <see cref="Freshness"/> (and, the first time
    /// ever, records the data folder's first key); loads a key file once per process. SigningKeyUnavailable when the current
    /// key's file is missing or is not the key recorded.
    /// </summary>
    /// <remarks>
    /// Every poll answer carries the announcements and every served item is signed: read each time, the newest key row was
    /// a synchronous query on every poll of every agent.
    /// </remarks>
    public CurrentSigningKey Current()
    {
        lock (_keys.Gate)
        {
            if (_keys.Cached is { } fresh && Environment.TickCount64 - _keys.CheckedAt < (long)Freshness.TotalMilliseconds)
            {
                return fresh.Key;
            }
        }
        using var db = engine.Database.CreateContext();
        var checkedAt = Environment.TickCount64;
        var newest = db.SigningKeys.AsNoTracking().OrderByDescending(k => k.Id).Select(k => new { k.Id }).FirstOrDefault();
        if (newest is null)
        {
            RecordFirstKey(db);
            newest = db.SigningKeys.AsNoTracking().OrderByDescending(k => k.Id).Select(k => new { k.Id }).First();
        }
        lock (_keys.Gate)
        {
            if (_keys.Cached is { } cached && cached.Id == newest.Id)
            {
                _keys.CheckedAt = checkedAt;
                return cached.Key;
            }
        }
        var rows = db.SigningKeys.AsNoTracking().Where(k => k.Id <= newest.Id).OrderBy(k => k.Id).ToList();
        var current = rows[^1];
        var signer = Load(current);
        var byId = rows.ToDictionary(r => r.Id);
        var announcements = rows.Where(r => r.PredecessorId is not null && r.AnnouncementSignature is not null)
            .Select(r => (byId[r.PredecessorId!.Value], r))
            .Where(pair => pair.Item1.RetiresAt is not null)
            .Select(pair => (new SigningKeyAnnouncement(pair.Item1.PublicKey, pair.r.PublicKey, pair.Item1.RetiresAt!.Value, pair.r.AnnouncementSignature!), pair.Item1.Fingerprint))
            .ToList();
        var key = new CurrentSigningKey(signer, current.Fingerprint, announcements);
        lock (_keys.Gate)
        {
            if (_keys.Cached is not { } other || other.Id <= newest.Id)
            {
                _keys.Cached = (newest.Id, key);
                _keys.CheckedAt = checkedAt;
            }
        }
        return key;
    }

    /// <summary>
    /// Makes the next <see cref="Current"/> read the newest key row: a rotation in this process, or a nudge from a cmdlet's
    /// process, which may have made one (<see cref="RotateAsync"/> nudges every running manager of the data folder).
    /// </summary>
    public void Forget()
    {
        lock (_keys.Gate)
        {
            _keys.CheckedAt = long.MinValue / 2;
        }
    }

    /// <summary>The announcements of keys in their grace period, oldest first (sent with every work answer and registration).</summary>
    public IReadOnlyList<SigningKeyAnnouncement> Announcements() => Current().Announcements(engine.Now);

    /// <summary>
    /// Refuses an enrollment token that names a key other than the current one or one in its grace period (whose
    /// announcement the registration answer carries), before anything is registered: SigningKeyMismatch.
    /// </summary>
    public async Task CheckTokenKeyAsync(string tokenFingerprint, CancellationToken cancellationToken)
    {
        var current = Current();
        var named = Fingerprints.Normalize(tokenFingerprint) ?? tokenFingerprint;
        if (Fingerprints.Same(named, current.Fingerprint))
        {
            return;
        }
        await using var db = engine.Database.CreateContext();
        var known = await db.SigningKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Fingerprint == named, cancellationToken);
        var now = engine.Now;
        if (known?.RetiresAt is { } retires && retires > now)
        {
            return; // made before the last rotation: the answer carries the announcement that leads to the current key
        }
        throw new DistException("SigningKeyMismatch", DistErrorKind.InvalidOperation, known?.RetiresAt is { } retired
            ? $"The enrollment token names signing key {named}, which this manager replaced; it retired at {retired.AsLocal():yyyy-MM-dd HH:mm:ss} "
              + $"and admits nothing since. Nothing was registered. Make a new token (New-DistEnrollmentToken): it names the current key {current.Fingerprint}."
            : $"The enrollment token names signing key {named}, but this manager signs with {current.Fingerprint}; nothing was registered. "
              + "Use a token made by this manager (New-DistEnrollmentToken).");
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DistSigningKey>> ListAsync(CancellationToken cancellationToken = default)
    {
        _ = Current(); // the first key is recorded on first use
        await using var db = engine.Database.CreateContext();
        var rows = await db.SigningKeys.AsNoTracking().OrderByDescending(k => k.Id).ToListAsync(cancellationToken);
        var now = engine.Now;
        var successor = rows.Where(r => r.PredecessorId is not null).ToDictionary(r => r.PredecessorId!.Value, r => r.Fingerprint);
        return rows.Select((r, i) => new DistSigningKey(r.Fingerprint,
            i == 0 ? SigningKeyState.Current : r.RetiresAt is { } at && at > now ? SigningKeyState.Retiring : SigningKeyState.Retired,
            r.CreatedAt.AsLocal(), r.RetiresAt.AsLocal(), successor.GetValueOrDefault(r.Id), Path.Combine(engine.Folder.KeysPath, r.FileName))).ToList();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<DistSigningKey>> RotateAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.UpdateSigningKey, null, cancellationToken);
        if (gracePeriod <= TimeSpan.Zero || gracePeriod > ISigningKeyService.MaxGracePeriod)
        {
            throw new DistException("SigningKeyGraceInvalid", DistErrorKind.InvalidArgument,
                $"-GracePeriod must be more than zero and at most {ISigningKeyService.MaxGracePeriod.TotalDays:0} days; it was {gracePeriod}. Nothing was changed.", gracePeriod);
        }
        var old = Current();
        int oldId;
        await using (var db = engine.Database.CreateContext())
        {
            oldId = await db.SigningKeys.Where(k => k.Fingerprint == old.Fingerprint).Select(k => k.Id).FirstAsync(cancellationToken);
        }
        RemoveOrphans();
        // 1. The new key, in full on disk, before anything names it.
        var (fresh, fileName) = ManifestSigner.CreateFile(engine.Folder.KeysPath);
        var path = Path.Combine(engine.Folder.KeysPath, fileName);
        try
        {
            // Whole seconds: the retirement is part of the signed announcement text and is shown to people.
            var now = TruncateToSeconds(engine.Now);
            var retiresAt = TruncateToSeconds(now + gracePeriod);
            var announcement = old.Signer.Announce(fresh.PublicKey, retiresAt);
            // 2. One transaction: the old key retires (only if nobody replaced it meanwhile), the new one is recorded.
            await using var db = engine.Database.CreateContext();
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var replaced = await db.SigningKeys.Where(k => k.Id == oldId && k.RetiresAt == null && !db.SigningKeys.Any(n => n.Id > oldId))
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.RetiresAt, retiresAt), cancellationToken);
            if (replaced == 0)
            {
                throw Conflict(old.Fingerprint);
            }
            db.SigningKeys.Add(new SigningKeyRow
            {
                Fingerprint = fresh.Fingerprint,
                PublicKey = fresh.PublicKey,
                FileName = fileName,
                CreatedAt = now,
                PredecessorId = oldId,
                AnnouncementSignature = announcement.Signature,
            });
            change.Record(db, fresh.Fingerprint, new { GracePeriod = gracePeriod.ToString(), Replaced = old.Fingerprint, RetiresAt = retiresAt });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException e) when (StorageErrors.IsDuplicate(e))
            {
                throw Conflict(old.Fingerprint);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        catch
        {
            // Not recorded: the file names no key anyone uses.
            fresh.Dispose();
            TryDelete(path);
            throw;
        }
        _keys.Signers[fresh.Fingerprint] = fresh;
        Forget(); // this process signs with the new key from its next use
        // And every running manager from its next answer, not up to Freshness later: a cmdlet that says the new key signs
        // everything at once is followed by work that must carry its announcement. Recorded already, so not canceled now;
        // a manager the nudge misses reads the key row within Freshness.
        await engine.Managers.NudgeAsync(wakePolls: false, CancellationToken.None);
        return await ListAsync(cancellationToken);
    }

    private DistException Conflict(string oldFingerprint)
    {
        using var db = engine.Database.CreateContext();
        var now = db.SigningKeys.AsNoTracking().OrderByDescending(k => k.Id).Select(k => k.Fingerprint).First();
        return new DistException("SigningKeyRotationConflict", DistErrorKind.InvalidOperation,
            $"Signing key {oldFingerprint} was replaced by another process at the same time; the current key is {now}. "
            + "Nothing was changed by this command (look with Get-DistSigningKey).", oldFingerprint);
    }

    /// <summary>The first key of the data folder (created on first use, as before rotations existed), recorded as key 1.</summary>
    private void RecordFirstKey(DistDbContext db)
    {
        var path = Path.Combine(engine.Folder.KeysPath, FirstKeyFileName);
        using var signer = ManifestSigner.LoadOrCreate(engine.Folder.KeysPath);
        // An earlier version made it readable by others on Windows: narrowed like every secret file.
        Protocol.Security.OwnerOnlyFiles.Tighten(path);
        db.SigningKeys.Add(new SigningKeyRow
        {
            Fingerprint = signer.Fingerprint,
            PublicKey = signer.PublicKey,
            FileName = FirstKeyFileName,
            CreatedAt = TruncateToSeconds(File.GetLastWriteTimeUtc(path)),
        });
        try
        {
            db.SaveChanges();
        }
        catch (DbUpdateException e) when (StorageErrors.IsDuplicate(e))
        {
            // Another process recorded it first.
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }

    /// <summary>The recorded key's private key, from its file, checked to be that key.</summary>
    private ManifestSigner Load(SigningKeyRow row)
    {
        if (_keys.Signers.TryGetValue(row.Fingerprint, out var loaded))
        {
            return loaded;
        }
        var path = Path.Combine(engine.Folder.KeysPath, row.FileName);
        ManifestSigner signer;
        try
        {
            signer = ManifestSigner.Load(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new DistException("SigningKeyUnavailable", DistErrorKind.NotAvailable,
                $"The current signing key {row.Fingerprint} is recorded, but its file '{path}' cannot be read ({e.Message}). Restore the file from a "
                + "backup of the data folder's keys folder; if it is lost, enroll the hosts again (see 'A lost or stolen signing key' in the operations guide).", path);
        }
        if (!string.Equals(signer.Fingerprint, row.Fingerprint, StringComparison.Ordinal))
        {
            signer.Dispose();
            throw new DistException("SigningKeyUnavailable", DistErrorKind.NotAvailable,
                $"The file '{path}' holds key {signer.Fingerprint}, not the recorded current signing key {row.Fingerprint}; nothing is signed with it. "
                + "Restore the right file from a backup of the data folder's keys folder.", path);
        }
        return _keys.Signers.GetOrAdd(row.Fingerprint, signer);
    }

    /// <summary>Removes key files that a rotation wrote but never recorded (it crashed in between), once they are old enough not to be one under way.</summary>
    private void RemoveOrphans()
    {
        if (!Directory.Exists(engine.Folder.KeysPath))
        {
            return;
        }
        using var db = engine.Database.CreateContext();
        var recorded = db.SigningKeys.AsNoTracking().Select(k => k.FileName).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var file in Directory.EnumerateFiles(engine.Folder.KeysPath, "signing-*.pem"))
        {
            if (!recorded.Contains(Path.GetFileName(file)) && DateTime.UtcNow - File.GetLastWriteTimeUtc(file) > OrphanAge)
            {
                TryDelete(file);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left behind: it names no recorded key, so nothing uses it.
        }
    }

    private static DateTime TruncateToSeconds(DateTime time) =>
        new(time.Ticks - time.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
}
