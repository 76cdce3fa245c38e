using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JP1Dist.Protocol.Versions;

namespace JP1Dist.Protocol.Signing;

/// <summary>The manifest and settings of a work item that passed every check, or why it was refused.</summary>
public sealed record SignedWorkVerdict(PackageManifest? Manifest, JobSettings? Settings, string? Refusal)
{
    /// <summary>True when the work item may be acted on.</summary>
    public bool Accepted => Refusal is null;
}

/// <summary>
/// What a signature vouches for, checked in one place: a work item is acted on only when its manifest and its job
/// settings are both signed by the pinned key and name each other (the settings carry the manifest's hash, the package's
/// name and version), the work item (ticket and job), and this host; when it is new, it must not have expired, and it
/// must not install an older version of a package than the one this host has from JP1Dist (a rollback).
/// </summary>
public static class SignedWork
{
    /// <summary>How long signed settings are accepted as new; the manager signs them again when half of it is gone.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(14);

    /// <summary>How far the agent's clock may be ahead of the manager's before an item looks expired.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(10);

    /// <summary>The hash the settings carry for a manifest: lowercase hex SHA-256 of its UTF-8 text.</summary>
    public static string ManifestHash(string manifestJson) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(manifestJson)));

    /// <summary>
    /// Checks a work item for the host <paramref name="hostId"/> against the pinned <paramref name="publicKey"/>.
    /// <paramref name="receivedNow"/> is the time when the item is new here (null for one already accepted, whose expiry no
    /// longer matters); <paramref name="installedVersion"/> is the version of the package this host has from JP1Dist, if any.
    /// </summary>
    public static SignedWorkVerdict Verify(WorkItem item, string publicKey, Guid hostId, DateTime? receivedNow, Func<string, string?>? installedVersion = null) =>
        Verify(item, [publicKey], hostId, receivedNow, installedVersion);

    /// <summary>
    /// Checks a work item against the keys the node trusts (<paramref name="trustedKeys"/>: its manager's current key and
    /// any in its grace period, as <see cref="SigningKeyChain.TrustedAt"/> decides); the manifest and the settings may each be
    /// signed by any of them (a manifest signed before a rotation, settings after).
    /// </summary>
    public static SignedWorkVerdict Verify(WorkItem item, IReadOnlyCollection<string> trustedKeys, Guid hostId, DateTime? receivedNow, Func<string, string?>? installedVersion = null)
    {
        ArgumentNullException.ThrowIfNull(item);
        ArgumentNullException.ThrowIfNull(trustedKeys);
        if (!trustedKeys.Any(key => ManifestSigner.Verify(key, item.Manifest ?? "", item.ManifestSignature ?? "")))
        {
            return Refuse("The package manifest is not signed by this agent's manager (by no signing key it trusts now); the package was refused.");
        }
        if (item.JobSettings is null || item.JobSettingsSignature is null)
        {
            return Refuse("The work item carries no signed job settings; it was refused.");
        }
        if (!trustedKeys.Any(key => ManifestSigner.Verify(key, item.JobSettings, item.JobSettingsSignature)))
        {
            return Refuse("The job settings are not signed by this agent's manager (by no signing key it trusts now); the work was refused.");
        }
        JobSettings? settings;
        PackageManifest? manifest;
        try
        {
            settings = JsonSerializer.Deserialize<JobSettings>(item.JobSettings, ProtocolJson.Options);
            manifest = JsonSerializer.Deserialize<PackageManifest>(item.Manifest!, ProtocolJson.Options);
        }
        catch (JsonException e)
        {
            return Refuse($"The signed work item cannot be read ({e.Message}); it was refused.");
        }
        if (settings is null || manifest is null)
        {
            return Refuse("The signed work item is empty; it was refused.");
        }
        if (ManifestRules.Validate(manifest) is { } problem)
        {
            // Before any hash or path of it is used, even though the manager signed it.
            return Refuse($"The package manifest was refused: {problem}.");
        }
        var mismatch =
            settings.WorkItemId != item.WorkItemId ? $"they were signed for work item {settings.WorkItemId}, not {item.WorkItemId}"
            : settings.HostId != hostId ? $"they were signed for host {settings.HostId}, not this host ({hostId})"
            : !string.Equals(settings.JobName, item.JobName, StringComparison.Ordinal) ? $"they were signed for job '{settings.JobName}', not '{item.JobName}'"
            : !string.Equals(settings.ManifestSha256, ManifestHash(item.Manifest!), StringComparison.Ordinal) ? "they were signed for another manifest"
            : !string.Equals(settings.PackageName, manifest.Name, StringComparison.Ordinal) || !string.Equals(settings.PackageVersion, manifest.Version, StringComparison.Ordinal)
                ? $"they were signed for package '{settings.PackageName}' {settings.PackageVersion}, not '{manifest.Name}' {manifest.Version}"
            : null;
        if (mismatch is not null)
        {
            return Refuse($"The job settings do not match the work item: {mismatch}; the work was refused.");
        }
        if (receivedNow is { } now && settings.ExpiresAt + ClockSkew < now)
        {
            return Refuse($"The work item expired at {settings.ExpiresAt:u}; it was refused (the manager signs current work again).");
        }
        // Only an install is held to the rollback rule here: storing on a relay or offering to the user installs nothing (the
        // user's choice is held to it when it installs, RollbackRefusal).
        var isInstall = settings.JobType is null || string.Equals(settings.JobType, "Install", StringComparison.OrdinalIgnoreCase);
        if (isInstall && RollbackRefusal(manifest, installedVersion) is { } rollback)
        {
            return Refuse(rollback);
        }
        return new SignedWorkVerdict(manifest, settings, null);
    }

    /// <summary>True when the settings offer the package to the host's user instead of installing it (a user-choice job).</summary>
    public static bool IsUserChoice(JobSettings settings) =>
        string.Equals(settings?.JobType, "UserChoice", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why installing <paramref name="manifest"/> would roll back the version this host has from JP1Dist, or null when it would not.</summary>
    public static string? RollbackRefusal(PackageManifest manifest, Func<string, string?>? installedVersion)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return installedVersion?.Invoke(manifest.Name) is { } installed && VersionComparer.Compare(manifest.Version, installed) < 0
            ? $"Package '{manifest.Name}' {manifest.Version} is older than version {installed} installed here; the agent refuses to roll back."
            : null;
    }

    private static SignedWorkVerdict Refuse(string reason) => new(null, null, reason);
}
