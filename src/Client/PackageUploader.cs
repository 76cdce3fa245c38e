using System.Security.Cryptography;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using P = JP1Dist.Contracts.AdminApiPaths;

namespace JP1Dist.Client;

/// <summary>
/// New-DistPackage in a session connected to a manager elsewhere: the files of <c>-Path</c> (the rule the engine uses,
/// <see cref="PackageSources"/>) are hashed here, announced with the package (the manager checks everything before a
/// byte is sent), sent in pieces each carrying its SHA-256, and the finished upload is made a package. A piece cut off
/// on the way is sent again from where the manager says the file has come, after a short wait, up to
/// <see cref="MaxAttempts"/> times in a row; a run cut off for good is continued by running the same command again
/// (the manager keeps an upload <c>PackageUploads.Expiry</c> after its last piece). Files the manager already stores
/// are not sent at all.
/// </summary>
internal sealed class PackageUploader(AdminConnection connection)
{
    /// <summary>How many failed tries in a row end the upload (the manager keeps what it has).</summary>
    public const int MaxAttempts = 8;

    /// <summary>How long one piece may take before it counts as cut off.</summary>
    private static readonly TimeSpan PieceTimeout = TimeSpan.FromMinutes(5);

    public async Task<DistPackage> UploadAsync(NewPackageRequest request, IProgress<PackagingProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var sources = PackageSources.Enumerate(request.Path);
        var sizes = sources.Select(s => new FileInfo(s.FullPath).Length).ToArray();
        var total = sizes.Sum();

        var files = new List<PackageUploadFile>(sources.Count);
        long hashed = 0;
        for (var i = 0; i < sources.Count; i++)
        {
            progress?.Report(new PackagingProgress(i, sources.Count, hashed, total, sources[i].RelativePath, PackagingStep.Hashing));
            await using var stream = OpenRead(sources[i].FullPath);
            var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
            files.Add(new PackageUploadFile(sources[i].RelativePath, stream.Length, sha));
            hashed += stream.Length;
        }

        var announced = new NewPackageUpload(request with { Path = Path.GetFullPath(request.Path) }, files);
        var state = await RetryingAsync(token => connection.SendAsync<PackageUploadState>(HttpMethod.Post, P.Uploads, announced, token), cancellationToken);
        var received = state.Received.ToArray();
        var pieceSize = Math.Min(PackageUploadProtocol.ChunkBytes, state.MaxChunkBytes);
        var buffer = new byte[pieceSize];
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            if (received[i] >= file.Size)
            {
                continue;
            }
            await using var stream = OpenRead(sources[i].FullPath);
            var failures = 0;
            var backoff = NewBackoff();
            while (received[i] < file.Size)
            {
                progress?.Report(new PackagingProgress(i, files.Count, received.Sum(), total, file.Path, PackagingStep.Uploading));
                var at = received[i];
                stream.Position = at;
                var length = await stream.ReadAtLeastAsync(buffer.AsMemory(0, (int)Math.Min(pieceSize, file.Size - at)), (int)Math.Min(pieceSize, file.Size - at),
                    throwOnEndOfStream: false, cancellationToken);
                if (at + length < file.Size && length < pieceSize)
                {
                    throw new DistException("PackageFileChanged", DistErrorKind.InvalidOperation,
                        $"'{sources[i].FullPath}' became shorter while it was uploaded; nothing was registered. Run New-DistPackage again once it no longer changes.", sources[i].FullPath);
                }
                var path = P.Fill(P.UploadFile, state.Id, i.ToString(System.Globalization.CultureInfo.InvariantCulture)) + AdminConnection.Query(("offset", at.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                var digest = PackageUploadProtocol.Digest(SHA256.HashData(buffer.AsSpan(0, length)));
                try
                {
                    using var piece = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    piece.CancelAfter(PieceTimeout);
                    var answer = await connection.SendBytesAsync<PackageUploadChunk>(HttpMethod.Put, path, buffer.AsMemory(0, length), (PackageUploadProtocol.DigestHeader, digest), piece.Token);
                    received[i] = answer.Received;
                    failures = 0;
                    backoff.Reset();
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && (IsCut(e) || e is DistException { ErrorId: "UploadOffsetMismatch" or "UploadChunkHashMismatch" }))
                {
                    // Cut off (or the manager has other bytes than this side thinks): ask where the file is, and go on from there.
                    if (++failures >= MaxAttempts)
                    {
                        throw new DistException("PackageUploadInterrupted", DistErrorKind.NotAvailable,
                            $"The upload of package '{request.Name}' {request.Version} was cut off {MaxAttempts} times in a row ({e.Message}). The manager keeps what arrived: "
                            + "run the same New-DistPackage again to continue from there (an upload nobody continues is removed after a day).", connection.Manager.ToString(), e);
                    }
                    await Task.Delay(backoff.Next(), cancellationToken);
                    received = (await RetryingAsync(token => connection.GetAsync<PackageUploadState>(P.Fill(P.Upload, state.Id), token), cancellationToken)).Received.ToArray();
                }
            }
        }
        progress?.Report(new PackagingProgress(files.Count, files.Count, total, total, "", PackagingStep.Uploading));

        try
        {
            return await connection.SendAsync<DistPackage>(HttpMethod.Post, P.Fill(P.UploadPackage, state.Id), null, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsCut(e))
        {
            // The answer was lost: the package was registered, or the upload is still there to be made one.
            await Task.Delay(NewBackoff().Next(), cancellationToken);
            var made = await RetryingAsync(token => connection.GetAsync<List<DistPackage>>(P.Packages, token, ("name", request.Name), ("version", request.Version)), cancellationToken);
            if (made.FirstOrDefault(p => string.Equals(p.Name, request.Name, StringComparison.OrdinalIgnoreCase)) is { } package)
            {
                return package;
            }
            return await RetryingAsync(token => connection.SendAsync<DistPackage>(HttpMethod.Post, P.Fill(P.UploadPackage, state.Id), null, token), cancellationToken);
        }
    }

    /// <summary>Runs a request again after a cut, up to <see cref="MaxAttempts"/> times.</summary>
    private static async Task<T> RetryingAsync<T>(Func<CancellationToken, Task<T>> send, CancellationToken cancellationToken)
    {
        var backoff = NewBackoff();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await send(cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsCut(e) && attempt < MaxAttempts)
            {
                await Task.Delay(backoff.Next(), cancellationToken);
            }
        }
    }

    /// <summary>The manager was not reached, went away, timed out or said it cannot answer now: worth trying again.</summary>
    private static bool IsCut(Exception e) => e switch
    {
        OperationCanceledException => true, // a piece's own time limit (the caller's cancellation is excluded by the filters)
        DistException { ErrorId: "ManagerUnreachable" or "ManagerAnswerInvalid" } => true,
        DistException { Kind: DistErrorKind.NotAvailable, ErrorId: not "UploadNoSpace" } => true,
        HttpRequestException or IOException => true,
        _ => false,
    };

    /// <summary>The product's jittered back-off (<see cref="Protocol.Backoff"/>), from 1 s up to 15 s, so that many sessions do not come back at once.</summary>
    private static Backoff NewBackoff() => new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15));

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
}
