using System.Globalization;
using System.Security.Cryptography;

namespace JP1Dist.Protocol.Signing;

/// <summary>
/// The manager's statement that its signing key <see cref="OldPublicKey"/> is replaced by <see cref="NewPublicKey"/> and
/// retires at <see cref="OldKeyRetiresAt"/> (UTC), signed by the old key over <see cref="Text"/>. Only the holder of the
/// old key can make one, so a node that trusts the old key can trust the new one from it; nobody can make one without the
/// old private key (a lost or stolen key is recovered by enrolling again, not by an announcement).
/// </summary>
public sealed record SigningKeyAnnouncement(string OldPublicKey, string NewPublicKey, DateTime OldKeyRetiresAt, string Signature)
{
    /// <summary>The first line of every announcement text: it starts with a letter, so it can never be a manifest or job settings (JSON).</summary>
    public const string Header = "JP1Dist signing key announcement 1";

    /// <summary>
    /// The exact text the old key signs (UTF-8): a header line, then one line each for the old key, the new key (base64
    /// SubjectPublicKeyInfo, which holds no line break) and the retirement time (UTC, ISO 8601 with seven fraction digits).
    /// </summary>
    public static string SignedText(string oldPublicKey, string newPublicKey, DateTime oldKeyRetiresAt) =>
        $"{Header}\nold-key: {oldPublicKey}\nnew-key: {newPublicKey}\nold-key-retires-at: {Utc(oldKeyRetiresAt).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture)}\n";

    /// <summary>The text this announcement's signature covers.</summary>
    public string Text => SignedText(OldPublicKey, NewPublicKey, OldKeyRetiresAt);

    /// <summary>The old key's fingerprint; null when it is not base64.</summary>
    public string? OldFingerprint => Fingerprints.OfPublicKey(OldPublicKey ?? "");

    /// <summary>The new key's fingerprint; null when it is not base64.</summary>
    public string? NewFingerprint => Fingerprints.OfPublicKey(NewPublicKey ?? "");

    /// <summary>A time as UTC: a local time converted, an unspecified one taken as UTC (how JSON and the database hand them over).</summary>
    public static DateTime Utc(DateTime time) => time.Kind switch
    {
        DateTimeKind.Local => time.ToUniversalTime(),
        DateTimeKind.Unspecified => DateTime.SpecifyKind(time, DateTimeKind.Utc),
        _ => time,
    };
}

/// <summary>A signing key a node trusts, its fingerprint, and when it retires (null: it has not been replaced).</summary>
public sealed record TrustedSigningKey(string PublicKey, string Fingerprint, DateTime? RetiresAt)
{
    /// <summary>Whether the key is trusted at <paramref name="at"/> (UTC): until its retirement, not from it.</summary>
    public bool TrustedAt(DateTime at) => RetiresAt is not { } retires || SigningKeyAnnouncement.Utc(at) < retires;
}

/// <summary>What <see cref="SigningKeyChain.Accept"/> decided: the announcements kept now, those added, and why others were refused.</summary>
public sealed record SigningKeyChainUpdate(IReadOnlyList<SigningKeyAnnouncement> Accepted, IReadOnlyList<SigningKeyAnnouncement> Added, IReadOnlyList<string> Refusals);

/// <summary>
/// Which signing keys a node trusts, decided in one place: the key it pinned at enrollment (the anchor), and every key an
/// accepted announcement names, each until the retirement an announcement signed by that key itself says (the earliest,
/// when there are several). An announcement is accepted only while its signer is trusted, so after a key retired nothing
/// signed by it counts, announcements included. Used by agents (work items), relays (snapshots) and whatever else checks a
/// signature of the manager's key.
/// </summary>
public static class SigningKeyChain
{
    /// <summary>The most announcements a node keeps: one per rotation it followed; a manager rotating weekly for a year stays below.</summary>
    public const int MaxAccepted = 64;

    /// <summary>The most announcements read from one answer (the manager sends only those still in their grace period).</summary>
    public const int MaxOffered = 16;

    /// <summary>The longest public key text read (a P-256 SubjectPublicKeyInfo is 124 characters of base64).</summary>
    public const int MaxKeyLength = 1024;

    /// <summary>The longest signature text read (an ECDSA P-256 signature is 88 characters of base64).</summary>
    public const int MaxSignatureLength = 1024;

    /// <summary>Every key the chain from <paramref name="anchor"/> reaches, the anchor first, with its retirement.</summary>
    public static IReadOnlyList<TrustedSigningKey> Known(string anchor, IReadOnlyList<SigningKeyAnnouncement>? accepted)
    {
        ArgumentNullException.ThrowIfNull(anchor);
        var keys = new List<(string Key, string Fingerprint)>();
        var retires = new Dictionary<string, DateTime>(StringComparer.Ordinal);
        if (Fingerprints.OfPublicKey(anchor) is not { } anchorFingerprint)
        {
            return [];
        }
        keys.Add((anchor, anchorFingerprint));
        var pending = (accepted ?? []).ToList();
        bool progress;
        do
        {
            // Announcements may come in any order; each links a known key to the next one.
            progress = false;
            foreach (var announcement in pending.ToList())
            {
                if (announcement.OldFingerprint is not { } old || announcement.NewFingerprint is not { } fresh || !keys.Any(k => k.Fingerprint == old))
                {
                    continue;
                }
                pending.Remove(announcement);
                progress = true;
                var at = SigningKeyAnnouncement.Utc(announcement.OldKeyRetiresAt);
                retires[old] = retires.TryGetValue(old, out var earlier) && earlier < at ? earlier : at;
                if (!keys.Any(k => k.Fingerprint == fresh))
                {
                    keys.Add((announcement.NewPublicKey, fresh));
                }
            }
        }
        while (progress && pending.Count > 0);
        return keys.Select(k => new TrustedSigningKey(k.Key, k.Fingerprint, retires.TryGetValue(k.Fingerprint, out var at) ? at : null)).ToList();
    }

    /// <summary>The keys trusted at <paramref name="at"/> (UTC): those of <see cref="Known"/> that have not retired by then.</summary>
    public static IReadOnlyList<TrustedSigningKey> TrustedAt(string anchor, IReadOnlyList<SigningKeyAnnouncement>? accepted, DateTime at) =>
        Known(anchor, accepted).Where(k => k.TrustedAt(at)).ToList();

    /// <summary>
    /// Takes the <paramref name="offered"/> announcements that a key trusted at <paramref name="now"/> signed, in any
    /// order (so a chain of two rotations is followed in one answer), and refuses the others: signed by a key this node
    /// does not trust or that retired, a signature that does not verify (forged or altered), a retirement already past,
    /// a new key that is not an ECDSA P-256 public key.
    /// </summary>
    public static SigningKeyChainUpdate Accept(string anchor, IReadOnlyList<SigningKeyAnnouncement>? accepted, IEnumerable<SigningKeyAnnouncement?>? offered, DateTime now)
    {
        ArgumentNullException.ThrowIfNull(anchor);
        var kept = (accepted ?? []).ToList();
        var added = new List<SigningKeyAnnouncement>();
        var refusals = new List<string>();
        var pending = new List<SigningKeyAnnouncement>();
        foreach (var announcement in (offered ?? []).Take(MaxOffered))
        {
            if (announcement is null || announcement.OldPublicKey is not { Length: > 0 and <= MaxKeyLength } || announcement.NewPublicKey is not { Length: > 0 and <= MaxKeyLength }
                || announcement.Signature is not { Length: > 0 and <= MaxSignatureLength } || announcement.OldFingerprint is null || announcement.NewFingerprint is null)
            {
                refusals.Add("A signing key announcement was refused: a key or the signature is missing, too long or not base64.");
                continue;
            }
            if (!kept.Any(k => Same(k, announcement)) && !pending.Any(p => Same(p, announcement)))
            {
                pending.Add(announcement);
            }
        }
        bool progress;
        do
        {
            progress = false;
            var trusted = TrustedAt(anchor, kept, now);
            foreach (var announcement in pending.ToList())
            {
                if (!trusted.Any(k => k.Fingerprint == announcement.OldFingerprint))
                {
                    continue; // perhaps signed by a key a later announcement of this answer brings in
                }
                pending.Remove(announcement);
                if (Problem(announcement, kept, now) is { } problem)
                {
                    refusals.Add($"The announcement of signing key {announcement.NewFingerprint} by key {announcement.OldFingerprint} was refused: {problem}.");
                    continue;
                }
                kept.Add(announcement);
                added.Add(announcement);
                progress = true;
            }
        }
        while (progress && pending.Count > 0);
        foreach (var announcement in pending)
        {
            var known = Known(anchor, kept).FirstOrDefault(k => k.Fingerprint == announcement.OldFingerprint);
            refusals.Add(known?.RetiresAt is { } retired
                ? $"The announcement of signing key {announcement.NewFingerprint} was refused: it is signed by key {announcement.OldFingerprint}, which retired at {retired:u}."
                : $"The announcement of signing key {announcement.NewFingerprint} was refused: it is signed by key {announcement.OldFingerprint}, which this node does not trust.");
        }
        return new SigningKeyChainUpdate(kept, added, refusals);
    }

    private static string? Problem(SigningKeyAnnouncement announcement, List<SigningKeyAnnouncement> kept, DateTime now)
    {
        if (announcement.OldFingerprint == announcement.NewFingerprint)
        {
            return "it names the same key twice";
        }
        if (!IsP256PublicKey(announcement.NewPublicKey))
        {
            return "the new key is not an ECDSA P-256 public key";
        }
        if (SigningKeyAnnouncement.Utc(announcement.OldKeyRetiresAt) <= SigningKeyAnnouncement.Utc(now))
        {
            return $"the old key's retirement ({SigningKeyAnnouncement.Utc(announcement.OldKeyRetiresAt):u}) has passed";
        }
        if (!ManifestSigner.Verify(announcement.OldPublicKey, announcement.Text, announcement.Signature))
        {
            return "its signature does not verify with the old key (forged or altered)";
        }
        return kept.Count >= MaxAccepted ? $"this node keeps at most {MaxAccepted} announcements; enroll it again" : null;
    }

    private static bool Same(SigningKeyAnnouncement a, SigningKeyAnnouncement b) =>
        a.OldFingerprint == b.OldFingerprint && a.NewFingerprint == b.NewFingerprint
        && SigningKeyAnnouncement.Utc(a.OldKeyRetiresAt) == SigningKeyAnnouncement.Utc(b.OldKeyRetiresAt);

    private static bool IsP256PublicKey(string publicKey)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(Convert.FromBase64String(publicKey), out _);
            return key.ExportParameters(false).Curve.Oid?.Value == ECCurve.NamedCurves.nistP256.Oid.Value;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return false;
        }
    }
}
