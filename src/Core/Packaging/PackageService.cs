using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Audit;
using JP1Dist.Core.Conditions;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JP1Dist.Core.Packaging;

/// <summary>Registers, lists, changes (expiry) and removes packages; content goes to the content store, the signed manifest to the database.</summary>
public sealed class PackageService(DistEngine engine) : IPackageService
{
    /// <summary>Registers a package: validates everything first, then stores content, then writes one row.</summary>
    public async Task<DistPackage> CreateAsync(NewPackageRequest request, CancellationToken cancellationToken = default) =>
        await CreateAsync(request, progress: null, cancellationToken);

    /// <summary>Registers a package, reporting progress file by file (large packages take a while to hash and copy).</summary>
    public async Task<DistPackage> CreateAsync(NewPackageRequest request, IProgress<PackagingProgress>? progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var change = await engine.Audit.AuthorizeAsync(DistOperations.NewPackage, Target(request.Name, request.Version), cancellationToken);
        var sources = PackageSources.Enumerate(request.Path);
        var package = await PrepareAsync(request, sources.Select(s => s.RelativePath).ToList(), cancellationToken);

        var files = new List<ManifestFile>(sources.Count);
        var totalBytes = sources.Sum(s => new FileInfo(s.FullPath).Length);
        long bytesDone = 0;
        foreach (var source in sources)
        {
            progress?.Report(new PackagingProgress(files.Count, sources.Count, bytesDone, totalBytes, source.RelativePath));
            var stored = await engine.Content.AddFileAsync(source.FullPath, package.SegmentSize, cancellationToken);
            files.Add(new ManifestFile(source.RelativePath, stored.Size, stored.Sha256, stored.SegmentHashes));
            bytesDone += stored.Size;
        }
        progress?.Report(new PackagingProgress(files.Count, sources.Count, bytesDone, totalBytes, ""));
        return await RegisterAsync(change, package, files, request, cancellationToken);
    }

    /// <summary>
    /// A package request checked in full before any content is read or stored: every value valid, the install command a
    /// file of <paramref name="paths"/> (the paths inside the package) or a program of the client, and no package of that
    /// name and version registered yet.
    /// </summary>
    internal async Task<PreparedPackage> PrepareAsync(NewPackageRequest request, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var name = Names.Require(request.Name, "Package");
        var version = RequireVersion(request.Version);
        var segmentSize = request.SegmentSize ?? NewPackageRequest.DefaultSegmentSize;
        if (segmentSize < NewPackageRequest.MinSegmentSize || segmentSize > NewPackageRequest.MaxSegmentSize)
        {
            throw new DistException("SegmentSizeOutOfRange", DistErrorKind.InvalidArgument,
                $"The segment size {segmentSize} is out of range: use {NewPackageRequest.MinSegmentSize} to {NewPackageRequest.MaxSegmentSize} bytes.", segmentSize);
        }
        var timeout = request.InstallTimeoutSeconds ?? NewPackageRequest.DefaultInstallTimeoutSeconds;
        if (timeout < 1)
        {
            throw new DistException("InstallTimeoutOutOfRange", DistErrorKind.InvalidArgument, $"The install timeout {timeout} must be at least 1 second.", timeout);
        }
        var successCodes = request.SuccessExitCodes is { Count: > 0 } codes ? codes.Distinct().ToArray() : [0];
        // Given lists are the package's; a default yields to a code given in another list (-SuccessExitCode 0,3010 keeps 3010 a success).
        var rebootCodes = request.RebootExitCodes?.Distinct().ToArray() ?? ExitCodes.DefaultReboot.Except(successCodes).ToArray();
        var retryCodes = request.RetryExitCodes?.Distinct().ToArray()
            ?? ExitCodes.DefaultRetry.Except(successCodes).Except(rebootCodes).ToArray();
        if (ExitCodes.Validate(successCodes, rebootCodes, retryCodes) is { } codesProblem)
        {
            throw new DistException("ExitCodesInvalid", DistErrorKind.InvalidArgument, $"The package's exit codes cannot be used: {codesProblem}.");
        }
        var arguments = request.InstallArguments?.ToArray() ?? [];
        if (arguments.Any(a => a is null))
        {
            throw new DistException("InstallArgumentInvalid", DistErrorKind.InvalidArgument, "An install argument is null.");
        }

        var conditions = request.InstallConditions is { IsEmpty: false } given ? InstallConditionReader.Validate(given) : null;
        var installAt = request.InstallAt?.ToUniversalTime();
        var expiresAt = RequireFutureExpiry(request.ExpiresAt);
        var installCommand = ResolveInstallCommand(request.InstallCommand, paths);

        await using (var db = engine.Database.CreateContext())
        {
            var key = Names.Key(name);
            if (await db.Packages.AnyAsync(p => p.NameKey == key && p.Version == version, cancellationToken))
            {
                throw AlreadyExists(name, version);
            }
        }
        return new PreparedPackage(name, version, segmentSize, timeout, successCodes, rebootCodes, retryCodes, arguments, conditions, installAt, expiresAt,
            installCommand, request.Description);
    }

    /// <summary>Signs the manifest of a prepared package whose files are stored, and writes its row with the audit entry of the change.</summary>
    internal async Task<DistPackage> RegisterAsync(AuditedChange change, PreparedPackage package, IReadOnlyList<ManifestFile> files, NewPackageRequest request,
        CancellationToken cancellationToken)
    {
        var manifest = new PackageManifest(package.Name, package.Version, package.SegmentSize, files, package.InstallCommand, package.Arguments,
            package.SuccessCodes, package.TimeoutSeconds, package.Conditions, package.InstallAt, package.RebootCodes, package.RetryCodes);
        var manifestJson = JsonSerializer.Serialize(manifest, ProtocolJson.Options);
        var signingKey = engine.SigningKeys.Current();
        var row = new PackageRow
        {
            Name = package.Name,
            NameKey = Names.Key(package.Name),
            Version = package.Version,
            Description = package.Description,
            InstallCommand = package.InstallCommand,
            InstallArgumentsJson = JsonSerializer.Serialize(package.Arguments),
            SuccessExitCodesJson = JsonSerializer.Serialize(package.SuccessCodes),
            InstallTimeoutSeconds = package.TimeoutSeconds,
            SegmentSize = package.SegmentSize,
            TotalBytes = manifest.TotalBytes,
            FileCount = files.Count,
            SegmentCount = files.Sum(f => f.Segments.Count),
            ManifestJson = manifestJson,
            ManifestSignature = signingKey.Signer.Sign(manifestJson),
            ManifestSigningKey = signingKey.Fingerprint,
            CreatedAt = engine.Now,
            InstallConditionsJson = package.Conditions is null ? null : JsonSerializer.Serialize(package.Conditions, ProtocolJson.Options),
            InstallAt = package.InstallAt,
            ExpiresAt = package.ExpiresAt,
        };
        await using (var db = engine.Database.CreateContext())
        {
            db.Packages.Add(row);
            change.Record(db, Target(package.Name, package.Version), request);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException e) when (StorageErrors.IsDuplicate(e))
            {
                // Lost a race with another registration of the same name and version.
                throw AlreadyExists(package.Name, package.Version);
            }
        }
        return ToView(row);
    }

    /// <summary>Packages whose name matches the wildcard pattern (all when null), newest version last.</summary>
    public async Task<IReadOnlyList<DistPackage>> ListAsync(string? namePattern = null, string? version = null, CancellationToken cancellationToken = default)
    {
        await using var db = engine.Database.CreateContext();
        var query = db.Packages.AsNoTracking();
        if (version is not null)
        {
            query = query.Where(p => p.Version == version);
        }
        var rows = await query.OrderBy(p => p.NameKey).ThenBy(p => p.CreatedAt).ToListAsync(cancellationToken);
        var matcher = Wildcard.For(namePattern);
        return rows.Where(r => matcher(r.Name)).Select(ToView).ToList();
    }

    /// <summary>One package by name and version (the newest version when none is given).</summary>
    public async Task<PackageRow> FindRowAsync(DistDbContext db, string name, string? version, CancellationToken cancellationToken = default)
    {
        var key = Names.Key(name);
        var query = db.Packages.Where(p => p.NameKey == key);
        if (!string.IsNullOrWhiteSpace(version))
        {
            query = query.Where(p => p.Version == version);
        }
        var row = await query.OrderByDescending(p => p.CreatedAt).ThenByDescending(p => p.Id).FirstOrDefaultAsync(cancellationToken);
        return row ?? throw new DistException("PackageNotFound", DistErrorKind.NotFound,
            version is null ? $"No package named '{name}' is registered." : $"No package '{name}' version '{version}' is registered.", name);
    }

    /// <summary>
    /// Changes until when relays keep the package (null: no expiry). Only this management attribute changes: the signed
    /// manifest stays as it is, and the next transfer-to-relay execution sends the package again with the new expiry.
    /// </summary>
    public async Task<DistPackage> SetExpiryAsync(string name, string version, DateTime? expiresAt, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.SetPackage, Target(name, version), cancellationToken);
        var expiry = RequireFutureExpiry(expiresAt);
        await using var db = engine.Database.CreateContext();
        var row = await FindRowAsync(db, name, version, cancellationToken);
        row.ExpiresAt = expiry;
        change.Record(db, Target(row.Name, row.Version), new { ExpiresAt = expiry });
        await db.SaveChangesAsync(cancellationToken);
        return ToView(row);
    }

    /// <summary>An expiry must lie in the future; returned in UTC.</summary>
    private DateTime? RequireFutureExpiry(DateTime? expiresAt)
    {
        var utc = expiresAt?.ToUniversalTime();
        if (utc is { } value && value <= engine.Now)
        {
            throw new DistException("ExpiresAtInPast", DistErrorKind.InvalidArgument,
                $"The expiry {expiresAt:yyyy-MM-dd HH:mm:ss} has already passed; give a time in the future (or no expiry).", expiresAt);
        }
        return utc;
    }

    /// <summary>
    /// Removes a package. Refused while a job uses it (an active one always, a saved one unless forced);
    /// forcing removes those jobs and cancels their unfinished targets.
    /// </summary>
    public async Task RemoveAsync(string name, string version, bool force, CancellationToken cancellationToken = default)
    {
        var change = await engine.Audit.AuthorizeAsync(DistOperations.RemovePackage, Target(name, version), cancellationToken);
        await using var db = engine.Database.CreateContext();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var row = await FindRowAsync(db, name, version, cancellationToken);
        var jobs = await db.Jobs.Where(j => j.PackageId == row.Id).Select(j => new { j.Id, j.Name }).ToListAsync(cancellationToken);
        if (jobs.Count > 0)
        {
            var jobIds = jobs.Select(j => j.Id).ToArray();
            var activeJobs = await db.Targets.Where(t => jobIds.Contains(t.JobId) && Unfinished.Contains(t.Status))
                .Select(t => t.JobId).Distinct().ToListAsync(cancellationToken);
            var names = string.Join(", ", jobs.Where(j => activeJobs.Contains(j.Id)).Select(j => j.Name));
            if (activeJobs.Count > 0 && !force)
            {
                throw new DistException("PackageInUse", DistErrorKind.InvalidOperation,
                    $"Package '{row.Name}' {row.Version} is in use by active job(s) {names}; wait for them to finish, stop them, or use -Force.", row.Name);
            }
            if (!force)
            {
                throw new DistException("PackageUsedByJob", DistErrorKind.InvalidOperation,
                    $"Package '{row.Name}' {row.Version} is used by saved job(s) {string.Join(", ", jobs.Select(j => j.Name))}; remove them first or use -Force to remove them with it.", row.Name);
            }
            await db.Jobs.Where(j => jobIds.Contains(j.Id)).ExecuteDeleteAsync(cancellationToken);
        }
        db.Packages.Remove(row);
        change.Record(db, Target(row.Name, row.Version), new { Force = force, RemovedJobs = jobs.Count > 0 ? jobs.Select(j => j.Name).ToList() : null });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        var manifest = JsonSerializer.Deserialize<PackageManifest>(row.ManifestJson, ProtocolJson.Options)!;
        await RemoveUnreferencedContentAsync(manifest.Files.Select(f => f.Sha256), cancellationToken);
    }

    /// <summary>How the audit log names a package version: name@version.</summary>
    private static string Target(string? name, string? version) => $"{name}@{version}";

    private static readonly TargetStatus[] Unfinished = Enum.GetValues<TargetStatus>().Where(s => !s.IsFinal()).ToArray();

    /// <summary>Deletes the stored files of these hashes that no registered package uses (any more, or yet).</summary>
    internal async Task RemoveUnreferencedContentAsync(IEnumerable<string> hashes, CancellationToken cancellationToken)
    {
        await using var db = engine.Database.CreateContext();
        foreach (var hash in hashes.Distinct())
        {
            var stillUsed = await db.Packages.AnyAsync(p => p.ManifestJson.Contains(hash), cancellationToken);
            if (!stillUsed && engine.Content.Contains(hash))
            {
                File.Delete(engine.Content.PathOf(hash));
            }
        }
    }

    internal static DistPackage ToView(PackageRow row)
    {
        var manifest = JsonSerializer.Deserialize<PackageManifest>(row.ManifestJson, ProtocolJson.Options);
        return new(
            row.Name,
            row.Version,
            row.Description,
            row.InstallCommand,
            JsonSerializer.Deserialize<string[]>(row.InstallArgumentsJson) ?? [],
            JsonSerializer.Deserialize<int[]>(row.SuccessExitCodesJson) ?? [0],
            row.InstallTimeoutSeconds,
            row.SegmentSize,
            row.TotalBytes,
            row.FileCount,
            row.SegmentCount,
            row.CreatedAt.AsLocal(),
            row.Id,
            ReadConditions(row.InstallConditionsJson),
            row.InstallAt.AsLocal(),
            row.ExpiresAt.AsLocal(),
            manifest is null ? ExitCodes.DefaultReboot : ExitCodes.Reboot(manifest),
            manifest is null ? ExitCodes.DefaultRetry : ExitCodes.Retry(manifest));
    }


    /// <summary>Conditions stored as JSON, or null.</summary>
    internal static InstallConditions? ReadConditions(string? json) =>
        json is null ? null : JsonSerializer.Deserialize<InstallConditions>(json, ProtocolJson.Options);

    private static DistException AlreadyExists(string name, string version) =>
        new("PackageAlreadyExists", DistErrorKind.AlreadyExists,
            $"Package '{name}' version '{version}' is already registered; packages are immutable, register a new version instead.", name);

    private static string RequireVersion(string? version)
    {
        if (string.IsNullOrWhiteSpace(version) || version.Trim().Length > 64 || !version.Trim().All(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or '+'))
        {
            throw new DistException("PackageVersionInvalid", DistErrorKind.InvalidArgument,
                $"'{version}' is not a valid version: use letters, digits and . - _ + (for example 1.2.0).", version);
        }
        return version.Trim();
    }

    /// <summary>
    /// The install command is a file of the package (by its path inside the package), or a program the client
    /// already has (an absolute path, or a bare name found on the client's PATH, such as msiexec.exe).
    /// </summary>
    private static string ResolveInstallCommand(string? command, IReadOnlyList<string> paths)
    {
        if (string.IsNullOrWhiteSpace(command))
        {
            throw new DistException("InstallCommandMissing", DistErrorKind.InvalidArgument, "The install command is empty.");
        }
        var normalized = command.Trim().Replace('\\', '/');
        if (normalized.StartsWith("./", StringComparison.Ordinal))
        {
            normalized = normalized[2..];
        }
        var inPackage = paths.FirstOrDefault(p => string.Equals(p, normalized, StringComparison.OrdinalIgnoreCase));
        if (inPackage is not null)
        {
            return inPackage;
        }
        if (System.IO.Path.IsPathRooted(command.Trim()) || !normalized.Contains('/'))
        {
            return command.Trim();
        }
        throw new DistException("InstallCommandNotFound", DistErrorKind.InvalidArgument,
            $"The install command '{command}' is not a file of the package; the package holds: {string.Join(", ", paths.Take(10))}{(paths.Count > 10 ? ", ..." : "")}.", command);
    }
}

/// <summary>A package request checked in full (<see cref="PackageService.PrepareAsync"/>): what its manifest and row are made of, but the files.</summary>
internal sealed record PreparedPackage(string Name, string Version, long SegmentSize, int TimeoutSeconds, int[] SuccessCodes, int[] RebootCodes, int[] RetryCodes,
    string[] Arguments, InstallConditions? Conditions, DateTime? InstallAt, DateTime? ExpiresAt, string InstallCommand, string? Description);
