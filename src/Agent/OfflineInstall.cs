using System.Text.Json;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using Microsoft.Extensions.Logging;

namespace JP1Dist.Agent;

/// <summary>What <c>jp1dist offline</c> is asked to do.</summary>
/// <param name="Media">The media folder Export-DistOfflineMedia wrote (or its .zip, unpacked beside it).</param>
/// <param name="StateFolder">This computer's agent state: its pinned signing keys (if it enrolled), what it installed, the install record.</param>
/// <param name="Name">This computer's name, compared with the host the media were made for.</param>
/// <param name="AnyHost">Install even on a computer that is not the media's host.</param>
/// <param name="SigningKey">The fingerprint of the manager's signing key, for a computer whose state pinned none.</param>
/// <param name="InstallWrapper">How the install command is run (<see cref="InstallWrapper.ForThisProgram"/>).</param>
public sealed record OfflineOptions(string Media, string StateFolder, string Name, bool AnyHost, string? SigningKey, IReadOnlyList<string>? InstallWrapper);

/// <summary>The end of an offline install: the exit code of <c>jp1dist offline</c>, and what it says.</summary>
public sealed record OfflineOutcome(int ExitCode, string Message);

/// <summary>
/// Installs from offline media on a computer the network does not reach, with the checks a networked agent makes: the work
/// item's signatures against a key this computer trusts (<c>SignedWork.Verify</c>: bound to host, ticket, job and
/// package, not expired, no rollback), every file's SHA-256, the install conditions; then the install through the install
/// wrapper, and a result signed with the media's key written into the media for Import-DistOfflineResult. At most once:
/// media with a result, or whose install already started here, are not installed again.
/// </summary>
public static class OfflineInstall
{
    public const int Succeeded = 0;
    public const int InstallFailed = 1;
    public const int Refused = 2;

    public static async Task<OfflineOutcome> RunAsync(OfflineOptions options, ILogger logger, TimeProvider time, CancellationToken cancellationToken)
    {
        var folder = Path.GetFullPath(options.Media);
        if (folder.EndsWith(".zip", StringComparison.OrdinalIgnoreCase) && File.Exists(folder))
        {
            var unpacked = folder[..^4];
            if (!Directory.Exists(unpacked))
            {
                System.IO.Compression.ZipFile.ExtractToDirectory(folder, unpacked);
            }
            folder = unpacked;
        }
        var descriptionPath = Path.Combine(folder, OfflineMediaFiles.Description);
        if (!File.Exists(descriptionPath))
        {
            return Refuse($"'{options.Media}' holds no offline media ({OfflineMediaFiles.Description} is missing).");
        }
        if (File.Exists(Path.Combine(folder, OfflineMediaFiles.Result)))
        {
            return Refuse($"These media were installed from already: their result is in {Path.Combine(folder, OfflineMediaFiles.Result)} (Import-DistOfflineResult records it). Media install once.");
        }
        OfflineMediaDescription? media;
        try
        {
            if (new FileInfo(descriptionPath).Length > OfflineMediaFiles.MaxJsonBytes)
            {
                return Refuse($"{OfflineMediaFiles.Description} is larger than {OfflineMediaFiles.MaxJsonBytes} bytes.");
            }
            media = JsonSerializer.Deserialize<OfflineMediaDescription>(await File.ReadAllBytesAsync(descriptionPath, cancellationToken), ProtocolJson.Strict);
        }
        catch (JsonException e)
        {
            return Refuse($"{OfflineMediaFiles.Description} cannot be read ({e.Message}).");
        }
        if (media is null || media.Format != OfflineMediaFiles.Format)
        {
            return Refuse($"{OfflineMediaFiles.Description} is not offline media of this version.");
        }

        // Whose signatures count: the keys this computer pinned when it enrolled, else the one its operator names.
        var store = new AgentStateStore(options.StateFolder);
        var now = time.GetUtcNow().UtcDateTime;
        var identity = store.LoadIdentity();
        IReadOnlyList<string> trusted;
        if (identity is { Pending: false })
        {
            trusted = AgentTrust.TrustedPublicKeys(identity, now);
        }
        else if (!string.IsNullOrWhiteSpace(options.SigningKey))
        {
            var presented = Fingerprints.OfPublicKey(media.SigningPublicKey);
            if (presented is null || !string.Equals(presented, options.SigningKey.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return Refuse($"The media are signed with the key {presented ?? "(not a key)"}, not with {options.SigningKey.Trim()} given by --signing-key; they were refused.");
            }
            trusted = [media.SigningPublicKey];
        }
        else
        {
            return Refuse($"This computer's state ({options.StateFolder}) pins no signing key of a manager: give --signing-key with the fingerprint "
                + "Get-DistSigningKey shows on the manager, so that the media are checked against a key you trust.");
        }

        // Which host this computer is.
        Guid hostId;
        if (identity is { Pending: false } && identity.HostId == media.HostId)
        {
            hostId = identity.HostId;
        }
        else if (options.AnyHost || string.Equals(options.Name, media.HostName, StringComparison.OrdinalIgnoreCase)
            && (identity is null || identity.Pending || identity.HostId == media.HostId))
        {
            hostId = media.HostId;
        }
        else
        {
            return Refuse($"The media were made for host '{media.HostName}'; this computer is '{options.Name}'. Use --any-host to install them here anyway.");
        }

        var installed = store.LoadInstalled();
        var verdict = SignedWork.Verify(media.Work, trusted, hostId, now, name => installed.GetValueOrDefault(name));
        if (!verdict.Accepted)
        {
            return Refuse(verdict.Refusal!);
        }
        var manifest = verdict.Manifest!;
        var settings = verdict.Settings!;
        if (settings.JobType is { } type && !string.Equals(type, "Install", StringComparison.OrdinalIgnoreCase))
        {
            return Refuse($"The media carry a {type} job; offline media install.");
        }

        var item = media.Work;
        var record = store.InstallRecordFolder(item.WorkItemId);
        var staging = store.StagingFolder(item.WorkItemId);
        var started = now;
        InstallOutcome outcome;
        if (InstallRecord.ReadStarted(record) is not null)
        {
            // Started here before (and cut off, or its result was not written): never run again.
            outcome = InstallRecord.ReadEnded(record) is { } ended
                ? InstallRunner.Interpret(manifest, ended)
                : new InstallOutcome(null, null, "The install from these media started on this computer before and did not record its end; it is not run again.", "");
        }
        else
        {
            if (await CopyContentAsync(folder, manifest, staging, cancellationToken) is { } refusal)
            {
                return Refuse(refusal);
            }
            if (settings.InstallConditions is { } conditions
                && await AgentConditions.CheckAsync(conditions, store, staging, runCheckProgram: true, cancellationToken) is { Met: false } unmet)
            {
                logger.LogInformation("{Message}", unmet.Message);
                return await WriteResultAsync(folder, media, options, ReportStatuses.ConditionNotMet, null, unmet.Message ?? "An install condition is not met.", null, started, time, InstallFailed, cancellationToken);
            }
            logger.LogInformation("Installing {Package} {Version} from offline media (job {Job})", manifest.Name, manifest.Version, item.JobName);
            outcome = await InstallRunner.RunAsync(manifest, staging, options.Name, item.JobName, options.InstallWrapper, record, CancellationToken.None);
        }
        if (outcome.Succeeded)
        {
            store.RecordInstalled(manifest.Name, manifest.Version);
        }
        logger.Log(outcome.Succeeded ? LogLevel.Information : LogLevel.Warning, "{Message}", outcome.Message);
        return await WriteResultAsync(folder, media, options, outcome.ReportStatus, outcome.ExitCode, outcome.Message, outcome.OutputTail, started, time,
            outcome.Succeeded ? Succeeded : InstallFailed, cancellationToken);
    }

    /// <summary>Copies each file of the package from the media into the staging folder, checking its size and SHA-256; the first mismatch, or null.</summary>
    private static async Task<string?> CopyContentAsync(string folder, PackageManifest manifest, string staging, CancellationToken cancellationToken)
    {
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }
        Directory.CreateDirectory(staging);
        foreach (var file in manifest.Files)
        {
            var source = Path.Combine(folder, OfflineMediaFiles.Content, file.Sha256.ToLowerInvariant());
            if (!File.Exists(source))
            {
                return $"The media lack the content of '{file.Path}' ({OfflineMediaFiles.Content}/{file.Sha256}); they were refused.";
            }
            var target = Path.GetFullPath(Path.Combine(staging, file.Path));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            string hash;
            long size;
            await using (var input = File.OpenRead(source))
            await using (var output = File.Create(target))
            {
                (hash, size) = await ContentHash.CopyAsync(input, output, file.Size, cancellationToken);
            }
            if (size != file.Size || !string.Equals(hash, file.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                Directory.Delete(staging, recursive: true);
                return $"The content of '{file.Path}' in the media is not the one the signed manifest names (SHA-256 {file.Sha256}, {file.Size} bytes): it was changed; the media were refused and nothing was installed.";
            }
        }
        return null;
    }

    /// <summary>Writes result.json and its signature into the media, each whole (written beside, then renamed), the signature last.</summary>
    private static async Task<OfflineOutcome> WriteResultAsync(string folder, OfflineMediaDescription media, OfflineOptions options, string status, int? exitCode,
        string message, string? outputTail, DateTime started, TimeProvider time, int code, CancellationToken cancellationToken)
    {
        var result = new OfflineResult(OfflineMediaFiles.Format, media.MediaId, media.HostId, media.Work.WorkItemId, options.Name, status, exitCode, message, outputTail,
            started, time.GetUtcNow().UtcDateTime, HostFacts.CollectFacts());
        var bytes = JsonSerializer.SerializeToUtf8Bytes(result, ProtocolJson.Options);
        var resultPath = Path.Combine(folder, OfflineMediaFiles.Result);
        var signaturePath = Path.Combine(folder, OfflineMediaFiles.ResultSignature);
        await File.WriteAllBytesAsync(resultPath + ".tmp", bytes, cancellationToken);
        await File.WriteAllTextAsync(signaturePath + ".tmp", OfflineMediaFiles.Sign(bytes, media.ResultKey) + "\n", cancellationToken);
        File.Move(signaturePath + ".tmp", signaturePath, overwrite: true);
        File.Move(resultPath + ".tmp", resultPath, overwrite: true);
        return new OfflineOutcome(code, $"{status}{(exitCode is { } c ? $" (exit code {c})" : "")}: {message} The result is in {resultPath}; Import-DistOfflineResult -Path '{folder}' records it at the manager.");
    }

    private static OfflineOutcome Refuse(string message) => new(Refused, message);
}
