using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>What a work item's signatures bind, piece by piece: each swapped, dropped or stale piece is refused.</summary>
public sealed class SignedWorkTests : IDisposable
{
    private static readonly Guid Host = Guid.NewGuid();
    private static readonly DateTime Now = new(2026, 11, 27, 12, 0, 0, DateTimeKind.Utc);
    private readonly string _keys = Path.Combine(Path.GetTempPath(), "jp1dist-signed-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ManifestSigner _signer;

    public SignedWorkTests() => _signer = ManifestSigner.LoadOrCreate(_keys);

    public void Dispose()
    {
        _signer.Dispose();
        Directory.Delete(_keys, recursive: true);
    }

    private static string Manifest(string name, string version) => JsonSerializer.Serialize(
        new PackageManifest(name, version, 4096, [new ManifestFile("a.bin", 1, new string('a', 64), [new string('a', 64)])], "a.bin", [], [0], 60),
        ProtocolJson.Options);

    private WorkItem Item(string manifest, Func<JobSettings, JobSettings>? change = null, Guid? workItemId = null, string job = "J")
    {
        var id = workItemId ?? Guid.NewGuid();
        var parsed = JsonSerializer.Deserialize<PackageManifest>(manifest, ProtocolJson.Options)!;
        var settings = new JobSettings(id)
        {
            HostId = Host, JobName = job, PackageName = parsed.Name, PackageVersion = parsed.Version,
            ManifestSha256 = SignedWork.ManifestHash(manifest), ExpiresAt = Now.AddDays(1),
        };
        settings = change?.Invoke(settings) ?? settings;
        var json = JsonSerializer.Serialize(settings, ProtocolJson.Options);
        return new WorkItem(id, job, 1, manifest, _signer.Sign(manifest), json, _signer.Sign(json));
    }

    private SignedWorkVerdict Verify(WorkItem item, Func<string, string?>? installed = null) => SignedWork.Verify(item, _signer.PublicKey, Host, Now, installed);

    [Fact]
    public void A_matching_item_is_accepted()
    {
        var verdict = Verify(Item(Manifest("App", "2.0")));
        Assert.True(verdict.Accepted, verdict.Refusal);
        Assert.Equal("App", verdict.Manifest!.Name);
    }

    [Fact]
    public void An_older_manifest_of_the_same_package_swapped_in_is_refused()
    {
        var item = Item(Manifest("App", "2.0")) is var newer ? newer with { Manifest = Manifest("App", "1.0") } : null;
        item = item! with { ManifestSignature = _signer.Sign(item.Manifest) }; // a genuinely signed older manifest
        Assert.Contains("another manifest", Verify(item).Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_signed_for_another_package_or_version_are_refused()
    {
        var refusal = Verify(Item(Manifest("App", "2.0"), s => s with { PackageVersion = "1.0" })).Refusal;
        Assert.Contains("signed for package 'App' 1.0, not 'App' 2.0", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Stripped_or_unsigned_settings_are_refused()
    {
        var item = Item(Manifest("App", "2.0"));
        Assert.Contains("no signed job settings", Verify(item with { JobSettings = null, JobSettingsSignature = null }).Refusal, StringComparison.Ordinal);
        Assert.Contains("not signed by this agent's manager", Verify(item with { JobSettingsSignature = item.ManifestSignature }).Refusal, StringComparison.Ordinal);
        Assert.Contains("manifest is not signed", Verify(item with { ManifestSignature = "" }).Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_hosts_item_another_ticket_or_another_job_is_refused()
    {
        Assert.Contains("signed for host", Verify(Item(Manifest("App", "2.0"), s => s with { HostId = Guid.NewGuid() })).Refusal, StringComparison.Ordinal);
        var item = Item(Manifest("App", "2.0"));
        Assert.Contains("signed for work item", Verify(item with { WorkItemId = Guid.NewGuid() }).Refusal, StringComparison.Ordinal);
        Assert.Contains("signed for job 'J'", Verify(item with { JobName = "Other" }).Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_new_item_past_its_expiry_is_refused_but_one_already_accepted_is_not()
    {
        var item = Item(Manifest("App", "2.0"), s => s with { ExpiresAt = Now.AddHours(-1) });
        Assert.Contains("expired", Verify(item).Refusal, StringComparison.Ordinal);
        Assert.True(SignedWork.Verify(item, _signer.PublicKey, Host, receivedNow: null).Accepted);
        // Within the allowed clock skew, it is still new.
        Assert.True(Verify(Item(Manifest("App", "2.0"), s => s with { ExpiresAt = Now.AddMinutes(-5) })).Accepted);
    }

    [Fact]
    public void An_install_older_than_what_is_installed_is_a_rollback_and_refused()
    {
        var installed = (string name) => name == "App" ? "2.0" : null;
        Assert.Contains("refuses to roll back", Verify(Item(Manifest("App", "1.0")), installed).Refusal, StringComparison.Ordinal);
        Assert.True(Verify(Item(Manifest("App", "2.0")), installed).Accepted); // the same version again: a reinstall
        Assert.True(Verify(Item(Manifest("App", "2.1")), installed).Accepted);
        // Storing an older version in a relay's cache installs nothing: not a rollback.
        Assert.True(Verify(Item(Manifest("App", "1.0"), s => s with { JobType = "TransferToRelay" }), installed).Accepted);
    }

    [Fact]
    public void Another_key_is_refused()
    {
        var other = Path.Combine(_keys, "other");
        using var stranger = ManifestSigner.LoadOrCreate(other);
        Assert.False(SignedWork.Verify(Item(Manifest("App", "2.0")), stranger.PublicKey, Host, Now).Accepted);
    }
}
