using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Security;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Tests.Agent;
using JP1Dist.Tests.Trust;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// Update-DistSigningKey's engine: the new key is recorded and signs at once, also in another engine instance on the same
/// folder (the running manager); what was stored signed by the old key is signed again when served; tokens made before
/// enroll during the grace period only; bad grace periods, concurrent rotations, crashes and lost files change nothing
/// silently.
/// </summary>
public sealed class SigningKeyRotationTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private DataFolder Data => _folder.Engine.Folder;

    [Fact]
    public async Task A_rotation_records_a_new_owner_only_key_that_signs_at_once_and_lists_the_old_one_as_retiring()
    {
        var before = _folder.Engine.Signer;
        var oldToken = EnrollmentTokenText.TryParse((await _folder.Engine.Hosts.NewEnrollmentTokenAsync("before")).Token)!;
        Assert.Equal(before.Fingerprint, oldToken.SigningKeyFingerprint);

        var keys = await _folder.Engine.SigningKeys.RotateAsync(TimeSpan.FromDays(3));

        Assert.Equal([SigningKeyState.Current, SigningKeyState.Retiring], keys.Select(k => k.State));
        var (current, old) = (keys[0], keys[1]);
        Assert.Equal(before.Fingerprint, old.Fingerprint);
        Assert.Equal(current.Fingerprint, old.ReplacedBy);
        Assert.Null(current.RetiresAt);
        Assert.InRange(old.RetiresAt!.Value, DateTime.Now.AddDays(3).AddMinutes(-1), DateTime.Now.AddDays(3).AddMinutes(1));
        Assert.StartsWith("Retiring until ", old.Status, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(Data.KeysPath, $"signing-{current.Fingerprint}.pem"), current.File);
        Assert.True(TlsTests.OwnerOnly(current.File), "the new private key is owner-only");
        Assert.Equal(current.Fingerprint, ManifestSigner.Load(current.File).Fingerprint);

        // Another engine on the folder (the manager's process) signs with it from its next use, without a restart.
        var other = new DistEngine(Data);
        Assert.Equal(current.Fingerprint, other.Signer.Fingerprint);
        var newToken = EnrollmentTokenText.TryParse((await other.Hosts.NewEnrollmentTokenAsync("after")).Token)!;
        Assert.Equal(current.Fingerprint, newToken.SigningKeyFingerprint);
        Assert.Equal(keys, await other.SigningKeys.ListAsync());

        // The announcement every answer carries verifies with the old key and names the new one.
        var announcement = Assert.Single(other.SigningKeys.Announcements());
        Assert.Equal((before.PublicKey, other.Signer.PublicKey), (announcement.OldPublicKey, announcement.NewPublicKey));
        Assert.True(ManifestSigner.Verify(before.PublicKey, announcement.Text, announcement.Signature));
        // A token made before the rotation still admits (its answer carries the announcement).
        await other.SigningKeys.CheckTokenKeyAsync(oldToken.SigningKeyFingerprint!, default);
        var registered = await other.Hosts.RegisterAsync(new RegisterRequest(oldToken.ToString(), "pc-old-token", "Linux", "6.1", "X64", ["10.0.0.1"], null, "1.0"));
        Assert.Equal(other.Signer.PublicKey, registered.ManifestPublicKey);
        Assert.Equal([announcement], registered.SigningKeys);
        Assert.Equal(oldToken.SigningKeyFingerprint, AgentTrust.CheckSigningKey(oldToken, registered, DateTime.UtcNow).Chain.Single().OldFingerprint);
    }

    [Fact]
    public async Task After_the_grace_period_a_token_naming_the_old_key_is_refused_and_nothing_is_announced()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var engine = new DistEngine(Data, time);
        var oldToken = EnrollmentTokenText.TryParse((await engine.Hosts.NewEnrollmentTokenAsync("before")).Token)!;
        await engine.SigningKeys.RotateAsync(TimeSpan.FromHours(1));

        time.Now += TimeSpan.FromHours(1);

        var refused = await Assert.ThrowsAsync<DistException>(() => engine.SigningKeys.CheckTokenKeyAsync(oldToken.SigningKeyFingerprint!, default));
        Assert.Equal("SigningKeyMismatch", refused.ErrorId);
        Assert.Contains("retired", refused.Message, StringComparison.Ordinal);
        Assert.Empty(engine.SigningKeys.Announcements());
        Assert.Equal([SigningKeyState.Current, SigningKeyState.Retired], (await engine.SigningKeys.ListAsync()).Select(k => k.State));
        var unknown = await Assert.ThrowsAsync<DistException>(() => engine.SigningKeys.CheckTokenKeyAsync(new string('c', 64), default));
        Assert.Equal("SigningKeyMismatch", unknown.ErrorId);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-60)]
    [InlineData(366 * 24 * 60)]
    public async Task A_grace_period_out_of_range_is_refused_and_changes_nothing(int minutes)
    {
        var before = await _folder.Engine.SigningKeys.ListAsync();
        var refused = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.SigningKeys.RotateAsync(TimeSpan.FromMinutes(minutes)));
        Assert.Equal("SigningKeyGraceInvalid", refused.ErrorId);
        Assert.Equal(before, await _folder.Engine.SigningKeys.ListAsync());
        Assert.Equal([SigningKeyService.FirstKeyFileName], Directory.GetFiles(Data.KeysPath, "*.pem").Select(Path.GetFileName));
    }

    [Fact]
    public async Task Rotations_by_several_processes_at_once_leave_one_chain_and_no_unrecorded_key()
    {
        _ = _folder.Engine.Signer;
        var engines = Enumerable.Range(0, 4).Select(_ => new DistEngine(Data)).ToList();
        var outcomes = await Task.WhenAll(engines.Select(e => Task.Run(async () =>
        {
            try
            {
                await e.SigningKeys.RotateAsync(TimeSpan.FromDays(1));
                return null;
            }
            catch (DistException refused)
            {
                return refused.ErrorId;
            }
        })));

        Assert.All(outcomes.Where(o => o is not null), o => Assert.Equal("SigningKeyRotationConflict", o));
        var keys = await _folder.Engine.SigningKeys.ListAsync();
        Assert.Equal(1 + outcomes.Count(o => o is null), keys.Count);
        // Each key but the current one was replaced exactly once, by the next newer one.
        for (var i = 1; i < keys.Count; i++)
        {
            Assert.Equal(keys[i - 1].Fingerprint, keys[i].ReplacedBy);
        }
        Assert.Equal(keys.Select(k => Path.GetFileName(k.File)).Order(), Directory.GetFiles(Data.KeysPath, "*.pem").Select(Path.GetFileName).Order());
        Assert.Equal(keys[0].Fingerprint, new DistEngine(Data).Signer.Fingerprint);
    }

    [Fact]
    public async Task A_key_file_written_but_never_recorded_is_not_used_and_a_later_rotation_removes_it()
    {
        var current = _folder.Engine.Signer.Fingerprint;
        // A rotation that stopped after writing its key file, before its transaction.
        var (orphan, fileName) = ManifestSigner.CreateFile(Data.KeysPath);
        orphan.Dispose();
        var orphanPath = Path.Combine(Data.KeysPath, fileName);

        Assert.Equal(current, new DistEngine(Data).Signer.Fingerprint);
        Assert.DoesNotContain(await _folder.Engine.SigningKeys.ListAsync(), k => Path.GetFileName(k.File) == fileName);

        File.SetLastWriteTimeUtc(orphanPath, DateTime.UtcNow - SigningKeyService.OrphanAge - TimeSpan.FromMinutes(1));
        await _folder.Engine.SigningKeys.RotateAsync(TimeSpan.FromDays(1));
        Assert.False(File.Exists(orphanPath), "an unrecorded key file old enough is removed by the next rotation");
    }

    [Fact]
    public async Task A_recorded_key_whose_file_is_gone_is_a_clear_error_not_another_key()
    {
        var keys = await _folder.Engine.SigningKeys.RotateAsync(TimeSpan.FromDays(1));
        File.Delete(keys[0].File);

        var engine = new DistEngine(Data); // a process that has not loaded the key yet
        var refused = Assert.Throws<DistException>(() => engine.Signer);
        Assert.Equal("SigningKeyUnavailable", refused.ErrorId);
        Assert.Contains(keys[0].File, refused.Message, StringComparison.Ordinal);
        var creating = await Assert.ThrowsAsync<DistException>(() => engine.Hosts.NewEnrollmentTokenAsync("no key"));
        Assert.Equal("SigningKeyUnavailable", creating.ErrorId);
    }

    [Fact]
    public async Task Signatures_stored_before_keys_were_recorded_are_signed_again_once_when_served()
    {
        await using var h = await AgentHarness.StartAsync();
        var registered = await h.Folder.RegisterHostAsync("pc-1");
        await h.PackageAsync("App");
        await h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
        using (var db = h.Folder.Engine.Database.CreateContext())
        {
            // As an earlier version stored them: no fingerprint.
            await db.Packages.ExecuteUpdateAsync(s => s.SetProperty(p => p.ManifestSigningKey, (string?)null));
            await db.Targets.ExecuteUpdateAsync(s => s.SetProperty(t => t.SettingsSigningKey, (string?)null));
        }
        var served = (await h.Distribution.GetWorkAsync(registered.HostId, default)).Single();
        Assert.True(SignedWork.Verify(served, h.Folder.Engine.Signer.PublicKey, registered.HostId, DateTime.UtcNow).Accepted);
        using (var db = h.Folder.Engine.Database.CreateContext())
        {
            Assert.Equal(h.Folder.Engine.Signer.Fingerprint, (await db.Packages.SingleAsync()).ManifestSigningKey);
            Assert.Equal(h.Folder.Engine.Signer.Fingerprint, (await db.Targets.SingleAsync()).SettingsSigningKey);
        }
        // Recorded now: served as stored from here on.
        Assert.Equal(served, (await h.Distribution.GetWorkAsync(registered.HostId, default)).Single());
    }

    [Fact]
    public async Task Work_stored_signed_by_the_old_key_is_served_signed_by_the_new_one_and_agents_learn_it()
    {
        await using var h = await AgentHarness.StartAsync();
        using var agent = await h.AgentAsync("pc-1", h.Handler());
        await agent.RunOnceAsync(default);
        var host = (await h.Folder.Engine.Hosts.ListAsync("pc-1")).Single().Id;
        var oldKey = h.Folder.Engine.Signer.PublicKey;
        var oldToken = (await h.Folder.Engine.Hosts.NewEnrollmentTokenAsync("made before the rotation")).Token!;
        await h.PackageAsync("App");
        await h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));
        var snapshotBefore = await h.Distribution.GetRelayWorkAsync([host], default);

        // The cmdlet's engine rotates; the running manager (an engine of its own) reads the newest key row again within
        // SigningKeyService.Freshness, and serves with the new key from then on.
        await h.Folder.Engine.SigningKeys.RotateAsync(TimeSpan.FromDays(1));
        var newKey = h.Folder.Engine.Signer.PublicKey;
        await Task.Delay(SigningKeyService.Freshness + TimeSpan.FromMilliseconds(100));
        var served = (await h.Distribution.GetWorkAsync(host, default)).Single();
        Assert.True(SignedWork.Verify(served, [newKey], host, DateTime.UtcNow).Accepted, "manifest and settings signed again by the new key");
        Assert.False(SignedWork.Verify(served, [oldKey], host, DateTime.UtcNow).Accepted);
        using (var db = h.Folder.Engine.Database.CreateContext())
        {
            var fingerprint = Fingerprints.OfPublicKey(newKey);
            Assert.Equal(fingerprint, (await db.Packages.SingleAsync()).ManifestSigningKey);
            Assert.Equal(fingerprint, (await db.Targets.SingleAsync()).SettingsSigningKey);
        }
        // A relay's snapshot changes with the signatures (so relays take it) and carries the announcement.
        var snapshotAfter = await h.Distribution.GetRelayWorkAsync([host], default);
        Assert.NotEqual(snapshotBefore.Etag, snapshotAfter.Etag);
        Assert.Single(snapshotAfter.SigningKeys!);
        Assert.True(ManifestSigner.Verify(newKey, snapshotAfter.Manifests.Single().Value.Manifest, snapshotAfter.Manifests.Single().Value.Signature));

        // The agent takes the announcement with its next answer, saves it, and installs.
        await agent.RunOnceAsync(default);
        Assert.Equal(TargetStatus.Succeeded, (await h.StatusAsync("J")).Status);
        var identity = agent.Store.LoadIdentity()!;
        Assert.Equal(oldKey, identity.ManifestPublicKey);
        Assert.Equal([Fingerprints.OfPublicKey(oldKey), Fingerprints.OfPublicKey(newKey)], AgentTrust.TrustedSigningKeys(identity, DateTime.UtcNow).Select(k => k.Fingerprint));

        // An agent enrolling with a token made before the rotation follows the announcement from the key it names.
        var late = new AgentRuntime(new AgentOptions
        {
            ManagerUrl = new Uri(h.Url), Token = oldToken, Name = "pc-2", StateFolder = Path.Combine(h.Folder.Root, "agent-pc-2"), PollWait = TimeSpan.Zero,
        }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        await late.RunOnceAsync(default);
        var lateIdentity = late.Store.LoadIdentity()!;
        Assert.Equal(oldKey, lateIdentity.ManifestPublicKey);
        Assert.Contains(Fingerprints.OfPublicKey(newKey), AgentTrust.TrustedSigningKeys(lateIdentity, DateTime.UtcNow).Select(k => k.Fingerprint));
        late.Dispose();
        Assert.Contains("signingKeyAnnouncements", File.ReadAllText(late.Store.IdentityPath), StringComparison.Ordinal);
        _ = JsonDocument.Parse(File.ReadAllText(late.Store.IdentityPath));
    }
}
