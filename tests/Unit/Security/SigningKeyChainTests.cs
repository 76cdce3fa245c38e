using System.Security.Cryptography;
using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// Which signing keys a node trusts after rotations (<see cref="SigningKeyChain"/>, <see cref="AgentTrust"/>): an
/// announcement counts only when a key the node trusts signed it, before that key retired; forged, altered, unknown and
/// late announcements are refused; a chain of two rotations is followed; work signed by a retired key is refused.
/// </summary>
public sealed class SigningKeyChainTests : IDisposable
{
    private static readonly Guid Host = Guid.NewGuid();
    private static readonly DateTime Now = new(2026, 11, 27, 12, 0, 0, DateTimeKind.Utc);
    private readonly string _keys = Path.Combine(Path.GetTempPath(), "jp1dist-chain-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ManifestSigner _k1;
    private readonly ManifestSigner _k2;
    private readonly ManifestSigner _k3;
    private readonly ManifestSigner _stranger;

    public SigningKeyChainTests()
    {
        _k1 = ManifestSigner.LoadOrCreate(_keys);
        _k2 = ManifestSigner.CreateFile(_keys).Signer;
        _k3 = ManifestSigner.CreateFile(_keys).Signer;
        _stranger = ManifestSigner.CreateFile(_keys).Signer;
    }

    public void Dispose()
    {
        foreach (var key in new[] { _k1, _k2, _k3, _stranger })
        {
            key.Dispose();
        }
        Directory.Delete(_keys, recursive: true);
    }

    private static List<string> Trusted(string anchor, IReadOnlyList<SigningKeyAnnouncement> accepted, DateTime at) =>
        SigningKeyChain.TrustedAt(anchor, accepted, at).Select(k => k.Fingerprint).ToList();

    [Fact]
    public void An_announcement_signed_by_the_pinned_key_adds_the_new_key_and_the_old_one_retires_when_it_said()
    {
        var announcement = _k1.Announce(_k2.PublicKey, Now.AddDays(14));
        var update = SigningKeyChain.Accept(_k1.PublicKey, [], [announcement], Now);

        Assert.Empty(update.Refusals);
        Assert.Equal([announcement], update.Added);
        Assert.Equal([_k1.Fingerprint, _k2.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now));
        Assert.Equal([_k1.Fingerprint, _k2.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now.AddDays(14).AddSeconds(-1)));
        Assert.Equal([_k2.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now.AddDays(14)));
        // Offered again (every answer carries it during the grace period): nothing new.
        Assert.Empty(SigningKeyChain.Accept(_k1.PublicKey, update.Accepted, [announcement], Now.AddDays(1)).Added);
    }

    [Fact]
    public void A_forged_or_altered_announcement_is_refused()
    {
        // Claims to come from the pinned key, signed by someone else.
        var forged = _k1.Announce(_k3.PublicKey, Now.AddDays(14)) with { Signature = _stranger.Sign(SigningKeyAnnouncement.SignedText(_k1.PublicKey, _k3.PublicKey, Now.AddDays(14))) };
        // A genuine announcement with another new key, or a later retirement, put in.
        var genuine = _k1.Announce(_k2.PublicKey, Now.AddDays(14));
        var swapped = genuine with { NewPublicKey = _stranger.PublicKey };
        var extended = genuine with { OldKeyRetiresAt = Now.AddDays(400) };

        var update = SigningKeyChain.Accept(_k1.PublicKey, [], [forged, swapped, extended], Now);

        Assert.Empty(update.Added);
        Assert.Equal(3, update.Refusals.Count);
        Assert.All(update.Refusals, r => Assert.Contains("does not verify", r, StringComparison.Ordinal));
        Assert.Equal([_k1.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now));
    }

    [Fact]
    public void An_announcement_signed_by_a_key_the_node_does_not_trust_is_refused()
    {
        var unknown = _stranger.Announce(_k2.PublicKey, Now.AddDays(14));
        var update = SigningKeyChain.Accept(_k1.PublicKey, [], [unknown], Now);

        Assert.Empty(update.Added);
        Assert.Contains("does not trust", Assert.Single(update.Refusals), StringComparison.Ordinal);
        Assert.Equal([_k1.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now));
    }

    [Fact]
    public void After_the_grace_period_the_old_key_announces_nothing_and_its_work_is_refused()
    {
        var accepted = SigningKeyChain.Accept(_k1.PublicKey, [], [_k1.Announce(_k2.PublicKey, Now.AddDays(1))], Now).Accepted;
        var later = Now.AddDays(2);

        // Whoever holds the retired key (stolen from a backup, say) cannot announce another key any more.
        var late = SigningKeyChain.Accept(_k1.PublicKey, accepted, [_k1.Announce(_stranger.PublicKey, later.AddDays(30))], later);
        Assert.Empty(late.Added);
        Assert.Contains("retired", Assert.Single(late.Refusals), StringComparison.Ordinal);
        // An announcement whose retirement has passed is refused even by a node that never heard of it.
        var expired = SigningKeyChain.Accept(_k1.PublicKey, [], [_k1.Announce(_k2.PublicKey, Now.AddDays(1))], later);
        Assert.Contains("has passed", Assert.Single(expired.Refusals), StringComparison.Ordinal);

        // Work signed by the retired key: refused after the grace period, accepted before it; the new key's accepted.
        var identity = new AgentIdentity(new Uri("http://127.0.0.1:1"), "pc", Host, "credential", _k1.PublicKey, null, accepted);
        var oldWork = Item(_k1);
        Assert.True(SignedWork.Verify(oldWork, AgentTrust.TrustedPublicKeys(identity, Now), Host, Now).Accepted);
        var refused = SignedWork.Verify(oldWork, AgentTrust.TrustedPublicKeys(identity, later), Host, later);
        Assert.False(refused.Accepted);
        Assert.Contains("not signed by this agent's manager", refused.Refusal, StringComparison.Ordinal);
        Assert.True(SignedWork.Verify(Item(_k2), AgentTrust.TrustedPublicKeys(identity, later), Host, later).Accepted);
        // Signatures of two keys in one item (manifest signed before the rotation, settings after) during the grace period.
        var mixed = Item(_k2) is var m ? m with { ManifestSignature = _k1.Sign(m.Manifest) } : null!;
        Assert.True(SignedWork.Verify(mixed, AgentTrust.TrustedPublicKeys(identity, Now), Host, Now).Accepted);
        Assert.False(SignedWork.Verify(mixed, AgentTrust.TrustedPublicKeys(identity, later), Host, later).Accepted);
    }

    [Fact]
    public void A_chain_of_two_rotations_is_followed_in_any_order_and_each_key_retires_on_its_own()
    {
        var first = _k1.Announce(_k2.PublicKey, Now.AddDays(14));
        var second = _k2.Announce(_k3.PublicKey, Now.AddDays(20));

        // A node that knows only the first key receives both at once, newest first.
        var update = SigningKeyChain.Accept(_k1.PublicKey, [], [second, first], Now.AddDays(1));

        Assert.Empty(update.Refusals);
        Assert.Equal(2, update.Added.Count);
        Assert.Equal([_k1.Fingerprint, _k2.Fingerprint, _k3.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now.AddDays(1)));
        Assert.Equal([_k2.Fingerprint, _k3.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now.AddDays(15)));
        Assert.Equal([_k3.Fingerprint], Trusted(_k1.PublicKey, update.Accepted, Now.AddDays(21)));

        // A node that missed the first rotation's grace period cannot follow the chain: it must be enrolled again.
        var tooLate = SigningKeyChain.Accept(_k1.PublicKey, [], [first, second], Now.AddDays(15));
        Assert.Empty(tooLate.Added);
        Assert.Equal(2, tooLate.Refusals.Count);
    }

    [Fact]
    public void An_enrollment_token_made_before_a_rotation_follows_the_announcement_during_the_grace_period_only()
    {
        var token = new EnrollmentTokenText("secret", _k1.Fingerprint, null);
        var answer = new RegisterResponse(Host, "credential", _k2.PublicKey, [_k1.Announce(_k2.PublicKey, Now.AddDays(14))]);

        var (anchor, chain) = AgentTrust.CheckSigningKey(token, answer, Now);
        Assert.Equal(_k1.PublicKey, anchor);
        var identity = new AgentIdentity(new Uri("http://127.0.0.1:1"), "pc", Host, "credential", anchor, null, chain);
        Assert.Equal([_k1.Fingerprint, _k2.Fingerprint], AgentTrust.TrustedSigningKeys(identity, Now).Select(k => k.Fingerprint));

        // After the grace period, and with an answer whose announcement does not lead to its key, nothing is trusted.
        Assert.Throws<SigningKeyMismatchException>(() => AgentTrust.CheckSigningKey(token, answer, Now.AddDays(15)));
        Assert.Throws<SigningKeyMismatchException>(() => AgentTrust.CheckSigningKey(token, answer with { ManifestPublicKey = _stranger.PublicKey }, Now));
        Assert.Throws<SigningKeyMismatchException>(() => AgentTrust.CheckSigningKey(token, answer with { SigningKeys = [_stranger.Announce(_k2.PublicKey, Now.AddDays(14))] }, Now));
    }

    [Fact]
    public void Accepted_announcements_are_saved_in_the_identity_before_they_are_used_and_survive_a_restart()
    {
        var state = Path.Combine(_keys, "agent");
        var store = new AgentStateStore(state);
        store.SaveIdentity(new AgentIdentity(new Uri("http://127.0.0.1:1"), "pc", Host, "credential", _k1.PublicKey));

        var (identity, update) = AgentTrust.AcceptAnnouncements(store, [_k1.Announce(_k2.PublicKey, Now.AddDays(14)), _stranger.Announce(_k3.PublicKey, Now.AddDays(14))], Now);

        Assert.Single(update.Added);
        Assert.Single(update.Refusals);
        var reloaded = new AgentStateStore(state).LoadIdentity()!;
        Assert.Equal(identity, reloaded with { SigningKeyAnnouncements = identity!.SigningKeyAnnouncements });
        Assert.Equal([_k1.Fingerprint, _k2.Fingerprint], AgentTrust.TrustedSigningKeys(reloaded, Now).Select(k => k.Fingerprint));
        Assert.Equal("credential", reloaded.Credential);
    }

    [Fact]
    public void The_signed_text_is_unambiguous_and_cannot_be_taken_for_a_manifest_or_settings()
    {
        var text = SigningKeyAnnouncement.SignedText(_k1.PublicKey, _k2.PublicKey, Now);
        Assert.Equal($"{SigningKeyAnnouncement.Header}\nold-key: {_k1.PublicKey}\nnew-key: {_k2.PublicKey}\nold-key-retires-at: 2026-11-27T12:00:00.0000000Z\n", text);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<JobSettings>(text, ProtocolJson.Options));
        // A local time names the same instant.
        Assert.Equal(text, SigningKeyAnnouncement.SignedText(_k1.PublicKey, _k2.PublicKey, Now.ToLocalTime()));
        // A new key that is not a P-256 key is refused even when the trusted key signed the announcement.
        using var rsa = RSA.Create(2048);
        var rsaKey = Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo());
        Assert.Contains("P-256", Assert.Single(SigningKeyChain.Accept(_k1.PublicKey, [], [_k1.Announce(rsaKey, Now.AddDays(1))], Now).Refusals), StringComparison.Ordinal);
    }

    private static WorkItem Item(ManifestSigner signer)
    {
        var manifest = JsonSerializer.Serialize(
            new PackageManifest("App", "1.0", 4096, [new ManifestFile("a.bin", 1, new string('a', 64), [new string('a', 64)])], "a.bin", [], [0], 60), ProtocolJson.Options);
        var id = Guid.NewGuid();
        var settings = JsonSerializer.Serialize(new JobSettings(id)
        {
            HostId = Host, JobName = "J", PackageName = "App", PackageVersion = "1.0", ManifestSha256 = SignedWork.ManifestHash(manifest), ExpiresAt = Now.AddDays(30),
        }, ProtocolJson.Options);
        return new WorkItem(id, "J", 1, manifest, signer.Sign(manifest), settings, signer.Sign(settings));
    }
}
