using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Audit;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Packaging;

/// <summary>
/// Packages uploaded from a session elsewhere (New-DistPackage connected to this manager): the request and the list of
/// files are checked in full first (<see cref="BeginAsync"/>), the files then arrive in pieces, each checked against its
/// digest and taken only at the offset reached (<see cref="AppendAsync"/>), and the finished upload becomes a package like
/// one made from a local folder (<see cref="CompleteAsync"/>), its files moved into the content store and checked against
/// their SHA-256 on the way.
/// <para>
/// An upload lives in a folder of its own below the data folder's uploads/, outside the content store: its description
/// (upload.json) and one .part file per file being received, whose length is how far that file has come, so a manager
/// killed at any moment resumes where the disk says. The id is derived from the caller, the package and the files, so the
/// same New-DistPackage run again continues the upload it began. A refused completion removes the upload and whatever it
/// had put in the store; an upload nobody continues for <see cref="Expiry"/> is removed by <see cref="SweepAsync"/>.
/// </para>
/// </summary>
public sealed class PackageUploads
{
    /// <summary>How long an upload nobody continues is kept.</summary>
    public static readonly TimeSpan Expiry = TimeSpan.FromHours(24);

    /// <summary>The most files one package upload may have.</summary>
    public const int MaxFiles = 50_000;

    /// <summary>The longest path inside a package an upload may name.</summary>
    public const int MaxPathLength = 1024;

    /// <summary>The largest file an upload may announce (1 TiB).</summary>
    public const long MaxFileBytes = 1L << 40;

    /// <summary>The most uploads one caller may have open at once.</summary>
    public const int MaxOpenPerCaller = 16;

    /// <summary>What the data folder's disk must keep free beyond an upload's bytes, so the database can still write.</summary>
    public const long ReserveBytes = 64L * 1024 * 1024;

    private const string DescriptionFile = "upload.json";

    private readonly DistEngine _engine;
    private readonly ConcurrentDictionary<string, UploadGate> _locks;

    internal PackageUploads(DistEngine engine, PackageUploads? local)
    {
        _engine = engine;
        _locks = local?._locks ?? new ConcurrentDictionary<string, UploadGate>(StringComparer.Ordinal);
    }

    private string Root => _engine.Folder.UploadsPath;

    /// <summary>
    /// Begins an upload, or continues the one this caller began with the same package and files. Everything about the
    /// package is checked here, before any byte is sent: a request New-DistPackage would refuse is refused now.
    /// </summary>
    public async Task<PackageUploadState> BeginAsync(NewPackageUpload upload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upload);
        var request = upload.Package ?? throw Invalid("UploadPackageMissing", "The upload names no package.", null);
        await _engine.Audit.AuthorizeAsync(DistOperations.NewPackage, $"{request.Name}@{request.Version}", cancellationToken);
        var files = CheckFiles(upload.Files);
        await _engine.Packages.PrepareAsync(request, files.Select(f => f.Path).ToList(), cancellationToken);

        var id = IdOf(_engine.Caller.Principal, Names.Key(request.Name), request.Version.Trim(), files);
        var folder = Path.Combine(Root, id);
        var gate = Gate(id);
        await gate.WaitAsync(cancellationToken);
        try
        {
            var existing = Read(id);
            if (existing is null)
            {
                RequireRoom(files);
                RequireFewerThanMaxOpen();
            }
            var description = new UploadDescription(_engine.Caller.Principal, request, files, existing?.CreatedAt ?? _engine.Now, _engine.Now);
            Directory.CreateDirectory(folder);
            Write(folder, description);
            return State(id, description);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>This caller's upload as the manager holds it.</summary>
    public async Task<PackageUploadState> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        await _engine.Audit.AuthorizeAsync(DistOperations.NewPackage, id, cancellationToken);
        return State(id, Find(id));
    }

    /// <summary>
    /// Takes a piece of file <paramref name="index"/> at <paramref name="offset"/>: refused, with nothing written, unless the
    /// offset is exactly how far that file has come, the piece fits the file and the largest piece, and its SHA-256 is
    /// <paramref name="sha256"/>. Answers how far the file has come now.
    /// </summary>
    public async Task<PackageUploadChunk> AppendAsync(string id, int index, long offset, Stream body, byte[]? sha256, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        await _engine.Audit.AuthorizeAsync(DistOperations.NewPackage, id, cancellationToken);
        if (sha256 is not { Length: 32 })
        {
            throw Invalid("UploadDigestMissing", $"A piece of an upload carries its SHA-256 in a {PackageUploadProtocol.DigestHeader} header (sha-256=:BASE64:).", PackageUploadProtocol.DigestHeader);
        }
        var description = Find(id);
        if (index < 0 || index >= description.Files.Count)
        {
            throw Invalid("UploadFileIndexInvalid", $"The upload has {description.Files.Count} files; there is no file {index}.", index);
        }
        var file = description.Files[index];
        // The piece is read and checked before the upload is locked: a slow or stalled sender holds up nobody else.
        var buffer = ArrayPool<byte>.Shared.Rent(PackageUploadProtocol.MaxChunkBytes);
        try
        {
            var length = await ReadPieceAsync(body, buffer.AsMemory(0, PackageUploadProtocol.MaxChunkBytes), cancellationToken);
            if (length < 0)
            {
                throw Invalid("UploadChunkTooLarge", $"A piece of an upload is at most {PackageUploadProtocol.MaxChunkBytes} bytes.", PackageUploadProtocol.MaxChunkBytes);
            }
            if (length == 0 && file.Size > 0)
            {
                throw Invalid("UploadChunkEmpty", "The piece is empty.", offset);
            }
            if (offset < 0 || offset + length > file.Size)
            {
                throw Invalid("UploadChunkBeyondFile", $"File '{file.Path}' has {file.Size} bytes; a piece of {length} bytes at {offset} does not fit in it.", offset);
            }
            if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(buffer.AsSpan(0, length)), sha256))
            {
                throw Invalid("UploadChunkHashMismatch",
                    $"The piece of file '{file.Path}' at {offset} ({length} bytes) does not match its {PackageUploadProtocol.DigestHeader}; nothing of it was kept, send it again.", offset);
            }
            var gate = Gate(id);
            await gate.WaitAsync(cancellationToken);
            try
            {
                // Found again under the lock: the upload may have been completed or given up meanwhile.
                description = Find(id);
                var received = Received(id, index, file);
                if (offset != received)
                {
                    throw new DistException("UploadOffsetMismatch", DistErrorKind.InvalidOperation,
                        $"File '{file.Path}' of the upload has {received} bytes; the next piece starts there, not at {offset}.", received);
                }
                // Whole and checked: written even if the sender goes away now, so that it finds it there when it comes back.
                await AppendToPartAsync(PartPath(id, index), received, buffer.AsMemory(0, length));
                Write(Path.Combine(Root, id), description with { TouchedAt = _engine.Now });
                return new PackageUploadChunk(index, received + length);
            }
            finally
            {
                gate.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Makes the finished upload a package: every file whole, each moved into the content store when its SHA-256 is the one
    /// announced, then the signed manifest and the row with its audit entry, as New-DistPackage does from a folder. The
    /// upload is gone afterwards, whatever the outcome, but when a file is still incomplete (the caller sends the rest).
    /// </summary>
    public async Task<DistPackage> CompleteAsync(string id, CancellationToken cancellationToken = default)
    {
        var description = Find(id);
        var request = description.Package;
        var change = await _engine.Audit.AuthorizeAsync(DistOperations.NewPackage, $"{request.Name}@{request.Version}", cancellationToken);
        var gate = Gate(id);
        await gate.WaitAsync(cancellationToken);
        var adopted = new List<string>();
        try
        {
            for (var i = 0; i < description.Files.Count; i++)
            {
                var received = Received(id, i, description.Files[i]);
                if (received < description.Files[i].Size)
                {
                    throw new DistException("UploadIncomplete", DistErrorKind.InvalidOperation,
                        $"File '{description.Files[i].Path}' of the upload has {received} of {description.Files[i].Size} bytes; send the rest first.", description.Files[i].Path);
                }
            }
            try
            {
                var package = await _engine.Packages.PrepareAsync(request, description.Files.Select(f => f.Path).ToList(), cancellationToken);
                var files = new List<ManifestFile>(description.Files.Count);
                for (var i = 0; i < description.Files.Count; i++)
                {
                    var file = description.Files[i];
                    var part = PartPath(id, i);
                    StoredFile stored;
                    if (!File.Exists(part) && !_engine.Content.Contains(file.Sha256))
                    {
                        // An empty file: nothing was sent for it.
                        await File.WriteAllBytesAsync(part, [], cancellationToken);
                    }
                    if (File.Exists(part))
                    {
                        stored = await _engine.Content.AdoptFileAsync(part, package.SegmentSize, file.Sha256, cancellationToken)
                            ?? throw new DistException("UploadFileHashMismatch", DistErrorKind.InvalidArgument,
                                $"File '{file.Path}' arrived whole but its SHA-256 is not the one announced ({file.Sha256}): it changed while it was sent, or on the way. Nothing was registered; run New-DistPackage again.", file.Path);
                        adopted.Add(stored.Sha256);
                    }
                    else
                    {
                        stored = await _engine.Content.DescribeAsync(file.Sha256, package.SegmentSize, cancellationToken);
                    }
                    files.Add(new ManifestFile(file.Path, stored.Size, stored.Sha256, stored.SegmentHashes));
                }
                var created = await _engine.Packages.RegisterAsync(change, package, files, request, cancellationToken);
                adopted.Clear();
                return created;
            }
            catch (Exception e) when (e is DistException)
            {
                // Refused: nothing of it stays, neither the upload nor what it put in the content store.
                await _engine.Packages.RemoveUnreferencedContentAsync(adopted, CancellationToken.None);
                adopted.Clear();
                throw;
            }
            finally
            {
                if (adopted.Count == 0)
                {
                    DeleteFolder(id);
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Gives up this caller's upload: its folder goes, nothing was registered.</summary>
    public async Task AbandonAsync(string id, CancellationToken cancellationToken = default)
    {
        await _engine.Audit.AuthorizeAsync(DistOperations.NewPackage, id, cancellationToken);
        Find(id);
        var gate = Gate(id);
        await gate.WaitAsync(cancellationToken);
        try
        {
            DeleteFolder(id);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Removes every upload nobody has continued for <see cref="Expiry"/>, and what it may have put in the content store
    /// without becoming a package (a manager stopped in the middle of a completion). Answers how many it removed.
    /// </summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(Root))
        {
            return 0;
        }
        var removed = 0;
        foreach (var folder in Directory.EnumerateDirectories(Root))
        {
            var id = Path.GetFileName(folder);
            if (!IsId(id))
            {
                continue; // not an upload
            }
            var description = ReadOrNull(folder);
            var touched = description?.TouchedAt ?? Directory.GetLastWriteTimeUtc(folder);
            if (_engine.Now - touched < Expiry)
            {
                continue;
            }
            var gate = Gate(id);
            await gate.WaitAsync(cancellationToken);
            try
            {
                if (description is not null)
                {
                    await _engine.Packages.RemoveUnreferencedContentAsync(description.Files.Select(f => f.Sha256), cancellationToken);
                }
                DeleteFolder(id);
                removed++;
            }
            finally
            {
                gate.Release();
            }
        }
        return removed;
    }

    /// <summary>The files as announced, checked: paths inside a package (the manifest's rule), each once, sizes and hashes well formed.</summary>
    private static List<PackageUploadFile> CheckFiles(IReadOnlyList<PackageUploadFile>? files)
    {
        if (files is not { Count: > 0 })
        {
            throw Invalid("UploadFilesMissing", "The upload lists no files.", null);
        }
        if (files.Count > MaxFiles)
        {
            throw Invalid("UploadTooManyFiles", $"The upload lists {files.Count} files; a package has at most {MaxFiles}.", files.Count);
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var checkedFiles = new List<PackageUploadFile>(files.Count);
        foreach (var file in files)
        {
            if (file is null || !ManifestRules.IsPackagePath(file.Path) || file.Path.Length > MaxPathLength)
            {
                throw Invalid("UploadFilePathInvalid", $"'{file?.Path}' is not a path inside a package (relative, without '..', at most {MaxPathLength} characters).", file?.Path);
            }
            var path = file.Path.Replace('\\', '/');
            if (!seen.Add(path))
            {
                throw Invalid("UploadFileDuplicate", $"'{path}' is listed twice.", path);
            }
            if (file.Size is < 0 or > MaxFileBytes)
            {
                throw Invalid("UploadFileSizeInvalid", $"'{path}' has a size of {file.Size} bytes; a file of a package has 0 to {MaxFileBytes} bytes.", path);
            }
            if (!ContentHash.IsHash(file.Sha256))
            {
                throw Invalid("UploadFileHashInvalid", $"The SHA-256 of '{path}' is not 64 hex digits.", path);
            }
            checkedFiles.Add(new PackageUploadFile(path, file.Size, file.Sha256.ToLowerInvariant()));
        }
        return checkedFiles;
    }

    /// <summary>The same caller, package and files give the same id, so that running New-DistPackage again continues.</summary>
    private static string IdOf(string principal, string nameKey, string version, IReadOnlyList<PackageUploadFile> files)
    {
        var text = new StringBuilder().Append(principal).Append('\n').Append(nameKey).Append('\n').Append(version).Append('\n');
        foreach (var file in files)
        {
            text.Append(file.Path).Append('\n').Append(file.Size).Append('\n').Append(file.Sha256).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>Refuses an upload the data folder's disk cannot take (with <see cref="ReserveBytes"/> left for the database).</summary>
    private void RequireRoom(IReadOnlyList<PackageUploadFile> files)
    {
        var needed = files.Where(f => !_engine.Content.Contains(f.Sha256)).Sum(f => f.Size);
        Directory.CreateDirectory(Root);
        long free;
        try
        {
            free = new DriveInfo(Path.GetPathRoot(Path.GetFullPath(Root))!).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return;
        }
        if (needed + ReserveBytes > free)
        {
            throw new DistException("UploadNoSpace", DistErrorKind.NotAvailable,
                $"The manager's disk has {free / (1024 * 1024)} MB free; this package needs {needed / (1024 * 1024)} MB more (and {ReserveBytes / (1024 * 1024)} MB kept free). Nothing was changed.", needed);
        }
    }

    private void RequireFewerThanMaxOpen()
    {
        if (!Directory.Exists(Root))
        {
            return;
        }
        var open = Directory.EnumerateDirectories(Root).Select(ReadOrNull).Count(d => d?.Principal == _engine.Caller.Principal);
        if (open >= MaxOpenPerCaller)
        {
            throw new DistException("UploadLimitReached", DistErrorKind.InvalidOperation,
                $"'{_engine.Caller.Principal}' has {open} uploads open, the most allowed; finish them, or they are removed {Expiry.TotalHours:0} hours after their last piece.", open);
        }
    }

    private PackageUploadState State(string id, UploadDescription description) =>
        new(id, description.Files.Select((f, i) => Received(id, i, f)).ToList(), PackageUploadProtocol.MaxChunkBytes, (description.TouchedAt + Expiry).AsLocal());

    /// <summary>How far a file has come: the length of its .part file; a file the store already holds is whole.</summary>
    private long Received(string id, int index, PackageUploadFile file)
    {
        var part = new FileInfo(PartPath(id, index));
        if (part.Exists)
        {
            return Math.Min(part.Length, file.Size);
        }
        return _engine.Content.Contains(file.Sha256) ? file.Size : 0;
    }

    private string PartPath(string id, int index) => Path.Combine(Root, id, index.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".part");

    /// <summary>Appends a checked piece; a write that fails (a full disk) is taken back, so the file ends where it did.</summary>
    private static async Task AppendToPartAsync(string part, long at, ReadOnlyMemory<byte> piece)
    {
        await using var stream = new FileStream(part, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        try
        {
            stream.Position = at;
            await stream.WriteAsync(piece);
            await stream.FlushAsync();
            stream.Flush(flushToDisk: true);
        }
        catch (IOException e)
        {
            stream.SetLength(at);
            throw new DistException("UploadNoSpace", DistErrorKind.NotAvailable, $"The manager could not write the piece: {e.Message} Nothing of it was kept.", null, e);
        }
    }

    /// <summary>Reads the body into <paramref name="buffer"/>: its length, or -1 when it is longer than the buffer.</summary>
    private static async Task<int> ReadPieceAsync(Stream body, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                var probe = new byte[1];
                return await body.ReadAsync(probe, cancellationToken) == 0 ? length : -1;
            }
            var read = await body.ReadAsync(buffer[length..], cancellationToken);
            if (read == 0)
            {
                return length;
            }
            length += read;
        }
    }

    /// <summary>
    /// One upload's lock: in this process a semaphore, and across the manager nodes that share the data folder a lock on a
    /// file of the folder's locks/ (one of 256, chosen by the id's first two digits, never removed), so that two nodes behind a
    /// load balancer never append to, complete or remove the same upload at once.
    /// </summary>
    private UploadGate Gate(string id) => _locks.GetOrAdd(id, key => new UploadGate(Path.Combine(_engine.Folder.LocksPath, "upload-" + key[..2] + ".lock")));

    /// <summary>A semaphore for this process and a file lock for the others: taken in that order, released in the other.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification =
        "Lives as long as its engine; the lock file is held only between WaitAsync and Release, which closes it, and a SemaphoreSlim whose wait handle is never asked for holds nothing to release.")]
    private sealed class UploadGate(string lockPath)
    {
        /// <summary>
        /// The HResult of the IOException for a file another holder has locked: ERROR_SHARING_VIOLATION on Windows, the
        /// errno EWOULDBLOCK of flock elsewhere (11 on Linux, 35 on macOS).
        /// </summary>
        private static readonly int SharingViolation = OperatingSystem.IsWindows() ? unchecked((int)0x80070020) : OperatingSystem.IsMacOS() ? 35 : 11;

        private readonly SemaphoreSlim _here = new(1, 1);
        private FileStream? _held;

        public async Task WaitAsync(CancellationToken cancellationToken)
        {
            await _here.WaitAsync(cancellationToken);
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
                while (true)
                {
                    try
                    {
                        _held = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                        return;
                    }
                    catch (IOException e) when (e.HResult == SharingViolation)
                    {
                        // Another manager node (or another upload of this bucket here) holds it: wait for it.
                        await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
                    }
                }
            }
            catch
            {
                _here.Release();
                throw;
            }
        }

        public void Release()
        {
            _held?.Dispose();
            _held = null;
            _here.Release();
        }
    }

    /// <summary>This caller's upload, or UploadNotFound (also for another caller's, and for an id that is not one).</summary>
    private UploadDescription Find(string id) =>
        Read(id) is { } description && description.Principal == _engine.Caller.Principal ? description
            : throw new DistException("UploadNotFound", DistErrorKind.NotFound,
                $"There is no upload '{id}' of yours: it was finished, given up, or removed {Expiry.TotalHours:0} hours after its last piece. Run New-DistPackage again.", id);

    private UploadDescription? Read(string id) => IsId(id) ? ReadOrNull(Path.Combine(Root, id)) : null;

    private static UploadDescription? ReadOrNull(string folder)
    {
        try
        {
            return JsonSerializer.Deserialize<UploadDescription>(File.ReadAllBytes(Path.Combine(folder, DescriptionFile)), ProtocolJson.Options);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes the description whole or not at all (a temporary file renamed over it).</summary>
    private static void Write(string folder, UploadDescription description)
    {
        var temporary = Path.Combine(folder, DescriptionFile + ".tmp");
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(description, ProtocolJson.Options));
        File.Move(temporary, Path.Combine(folder, DescriptionFile), overwrite: true);
    }

    private void DeleteFolder(string id)
    {
        var folder = Path.Combine(Root, id);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static bool IsId(string? id) => id is { Length: 32 } && id.All(char.IsAsciiHexDigitLower);

    private static DistException Invalid(string id, string message, object? target) => new(id, DistErrorKind.InvalidArgument, message, target);

    /// <summary>What upload.json holds: whose upload it is, the package asked for, its files, and when it began and last moved.</summary>
    private sealed record UploadDescription(string Principal, NewPackageRequest Package, IReadOnlyList<PackageUploadFile> Files, DateTime CreatedAt, DateTime TouchedAt);
}
