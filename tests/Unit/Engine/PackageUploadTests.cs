using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Security;
using JP1Dist.Protocol;
using JP1Dist.Tests.Agent;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// Package uploads in the engine (what the admin API serves): everything checked before a byte is taken, each piece
/// taken only at its offset and with its digest, a finished upload made the same package a local folder makes, and a
/// refused or abandoned upload leaving neither a package nor content behind.
/// </summary>
public sealed class PackageUploadTests : IDisposable
{
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
    private readonly TestFolder _folder;
    private readonly byte[] _payload = RandomNumberGenerator.GetBytes(70_000);
    private readonly byte[] _script = Encoding.UTF8.GetBytes("#!/bin/sh\nexit 0\n");

    public PackageUploadTests()
    {
        _folder = new TestFolder(_time);
        _folder.WriteFile("pkg/setup.sh", "#!/bin/sh\nexit 0\n");
        Directory.CreateDirectory(Path.Combine(_folder.Root, "pkg", "data"));
        File.WriteAllBytes(Path.Combine(_folder.Root, "pkg", "data", "payload.bin"), _payload);
    }

    private DistEngine Remote(string principal = "workstation", DistRole role = DistRole.Administrator) =>
        _folder.Engine.As(new DistCaller(principal, "192.0.2.10", role));

    private NewPackageRequest Request(string version = "1.0", string command = "setup.sh") =>
        new("Editor", version, @"C:\packages\editor", command, ["/quiet"], [0], 4096);

    private List<PackageUploadFile> Files() =>
    [
        new("data/payload.bin", _payload.Length, Convert.ToHexStringLower(SHA256.HashData(_payload))),
        new("setup.sh", _script.Length, Convert.ToHexStringLower(SHA256.HashData(_script))),
    ];

    private string UploadsRoot => _folder.Engine.Folder.UploadsPath;

    private IEnumerable<string> StoredContent => Directory.Exists(_folder.Engine.Content.Root)
        ? Directory.EnumerateFiles(_folder.Engine.Content.Root, "*", SearchOption.AllDirectories) : [];

    private static Task<PackageUploadChunk> SendAsync(DistEngine engine, string id, int index, long offset, ReadOnlySpan<byte> piece, byte[]? digest = null) =>
        engine.Uploads.AppendAsync(id, index, offset, new MemoryStream(piece.ToArray()), digest ?? SHA256.HashData(piece));

    private static async Task SendWholeAsync(DistEngine engine, PackageUploadState state, IReadOnlyList<byte[]> contents, int pieceSize = 16_384)
    {
        for (var i = 0; i < contents.Count; i++)
        {
            for (var at = state.Received[i]; at < contents[i].Length; at += pieceSize)
            {
                await SendAsync(engine, state.Id, i, at, contents[i].AsSpan((int)at, (int)Math.Min(pieceSize, contents[i].Length - at)));
            }
        }
    }

    [Fact]
    public async Task A_finished_upload_is_the_package_the_same_folder_makes_locally()
    {
        var remote = Remote();
        var state = await remote.Uploads.BeginAsync(new NewPackageUpload(Request(), Files()));
        Assert.Equal([0L, 0L], state.Received);
        await SendWholeAsync(remote, state, [_payload, _script]);
        var uploaded = await remote.Uploads.CompleteAsync(state.Id);

        var local = await _folder.Engine.Packages.CreateAsync(Request("2.0") with { Path = Path.Combine(_folder.Root, "pkg") }, null);
        Assert.Equal((local.FileCount, local.SegmentCount, local.TotalBytes, local.InstallCommand), (uploaded.FileCount, uploaded.SegmentCount, uploaded.TotalBytes, uploaded.InstallCommand));
        await using var db = _folder.Engine.Database.CreateContext();
        var manifests = await db.Packages.OrderBy(p => p.Version).Select(p => p.ManifestJson).ToListAsync();
        var files = manifests.Select(m => JsonSerializer.Deserialize<PackageManifest>(m, ProtocolJson.Options)!.Files).ToList();
        Assert.Equal(JsonSerializer.Serialize(files[1]), JsonSerializer.Serialize(files[0]));
        Assert.False(Directory.Exists(Path.Combine(UploadsRoot, state.Id)));

        // Recorded once, as a change by the session's key, with the path on the session's computer.
        var entry = Assert.Single(await _folder.Engine.Audit.ListAsync(new AuditQuery(Principal: "workstation")));
        Assert.Equal(("New-DistPackage", "Editor@1.0"), (entry.Operation, entry.Target));
        Assert.Contains(@"C:\\packages\\editor", entry.Parameters, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Beginning_again_continues_where_the_upload_stopped_and_stored_files_are_not_sent()
    {
        var remote = Remote();
        var first = await remote.Uploads.BeginAsync(new NewPackageUpload(Request(), Files()));
        await SendAsync(remote, first.Id, 0, 0, _payload.AsSpan(0, 30_000));

        var again = await remote.Uploads.BeginAsync(new NewPackageUpload(Request() with { Description = "changed meanwhile" }, Files()));
        Assert.Equal((first.Id, 30_000L, 0L), (again.Id, again.Received[0], again.Received[1]));

        // A file the store already holds (setup.sh of another package) counts as arrived.
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("Other", "1.0", Path.Combine(_folder.Root, "pkg", "setup.sh"), "setup.sh"), null);
        var third = await remote.Uploads.BeginAsync(new NewPackageUpload(Request() with { Description = "the last asked for" }, Files()));
        Assert.Equal([30_000L, _script.Length], third.Received);
        await SendWholeAsync(remote, third, [_payload, _script]);
        var package = await remote.Uploads.CompleteAsync(third.Id);
        Assert.Equal("the last asked for", package.Description);

        // Another key does not see it, nor continue it.
        var other = Remote("someone-else");
        Assert.Equal("UploadNotFound", (await Assert.ThrowsAsync<DistException>(() => other.Uploads.GetAsync(first.Id))).ErrorId);
    }

    [Theory]
    [InlineData("../etc/passwd", "UploadFilePathInvalid")]
    [InlineData("/etc/passwd", "UploadFilePathInvalid")]
    [InlineData(@"C:\Windows\evil.exe", "UploadFilePathInvalid")]
    [InlineData("SETUP.SH", "UploadFileDuplicate")]
    [InlineData("huge.bin", "UploadFileSizeInvalid", long.MaxValue)]
    [InlineData("negative.bin", "UploadFileSizeInvalid", -1L)]
    [InlineData("bad-hash.bin", "UploadFileHashInvalid", 1L, "not a hash")]
    public async Task Files_that_leave_the_package_or_repeat_are_refused_before_anything_is_kept(string path, string errorId, long size = 1, string? hash = null)
    {
        var files = Files();
        files.Add(new PackageUploadFile(path, size, hash ?? new string('a', 64)));
        var error = await Assert.ThrowsAsync<DistException>(() => Remote().Uploads.BeginAsync(new NewPackageUpload(Request(), files)));
        Assert.Equal(errorId, error.ErrorId);
        Assert.False(Directory.Exists(UploadsRoot) && Directory.EnumerateFileSystemEntries(UploadsRoot).Any());
    }

    [Fact]
    public async Task A_package_request_the_engine_would_refuse_is_refused_before_a_byte_is_sent()
    {
        var error = await Assert.ThrowsAsync<DistException>(() => Remote().Uploads.BeginAsync(new NewPackageUpload(Request(command: "bin/missing.sh"), Files())));
        Assert.Equal("InstallCommandNotFound", error.ErrorId);
        await _folder.Engine.Packages.CreateAsync(Request() with { Path = Path.Combine(_folder.Root, "pkg") }, null);
        error = await Assert.ThrowsAsync<DistException>(() => Remote().Uploads.BeginAsync(new NewPackageUpload(Request(), Files())));
        Assert.Equal("PackageAlreadyExists", error.ErrorId);
        // Below the role: refused and recorded as Denied.
        error = await Assert.ThrowsAsync<DistException>(() => Remote("ci", DistRole.Operator).Uploads.BeginAsync(new NewPackageUpload(Request("3.0"), Files())));
        Assert.Equal("PermissionDenied", error.ErrorId);
        Assert.False(Directory.Exists(UploadsRoot) && Directory.EnumerateFileSystemEntries(UploadsRoot).Any());
    }

    [Fact]
    public async Task A_piece_at_the_wrong_offset_with_a_wrong_digest_or_past_the_end_changes_nothing()
    {
        var remote = Remote();
        var state = await remote.Uploads.BeginAsync(new NewPackageUpload(Request(), Files()));
        await SendAsync(remote, state.Id, 0, 0, _payload.AsSpan(0, 1000));

        var wrongOffset = await Assert.ThrowsAsync<DistException>(() => SendAsync(remote, state.Id, 0, 2000, _payload.AsSpan(2000, 1000)));
        Assert.Equal(("UploadOffsetMismatch", (object?)1000L), (wrongOffset.ErrorId, wrongOffset.Target));
        var wrongDigest = await Assert.ThrowsAsync<DistException>(() => SendAsync(remote, state.Id, 0, 1000, _payload.AsSpan(1000, 1000), SHA256.HashData(_script)));
        Assert.Equal("UploadChunkHashMismatch", wrongDigest.ErrorId);
        var noDigest = await Assert.ThrowsAsync<DistException>(() => remote.Uploads.AppendAsync(state.Id, 0, 1000, new MemoryStream(_payload, 1000, 10), null));
        Assert.Equal("UploadDigestMissing", noDigest.ErrorId);
        var pastEnd = await Assert.ThrowsAsync<DistException>(() => SendAsync(remote, state.Id, 1, 0, new byte[_script.Length + 1]));
        Assert.Equal("UploadChunkBeyondFile", pastEnd.ErrorId);
        var noFile = await Assert.ThrowsAsync<DistException>(() => SendAsync(remote, state.Id, 2, 0, _script));
        Assert.Equal("UploadFileIndexInvalid", noFile.ErrorId);

        Assert.Equal([1000L, 0L], (await remote.Uploads.GetAsync(state.Id)).Received);
        var early = await Assert.ThrowsAsync<DistException>(() => remote.Uploads.CompleteAsync(state.Id));
        Assert.Equal("UploadIncomplete", early.ErrorId);
        Assert.Equal([1000L, 0L], (await remote.Uploads.GetAsync(state.Id)).Received);
    }

    [Fact]
    public async Task A_file_that_arrives_other_than_announced_is_refused_and_leaves_nothing()
    {
        var remote = Remote();
        var state = await remote.Uploads.BeginAsync(new NewPackageUpload(Request(), Files()));
        var changed = _payload.ToArray();
        changed[^1] ^= 0xFF; // every piece carries its own right digest, but the whole is not the file announced
        await SendWholeAsync(remote, state, [changed, _script]);

        var error = await Assert.ThrowsAsync<DistException>(() => remote.Uploads.CompleteAsync(state.Id));
        Assert.Equal(("UploadFileHashMismatch", (object?)"data/payload.bin"), (error.ErrorId, error.Target));
        Assert.Empty(await _folder.Engine.Packages.ListAsync());
        Assert.Empty(StoredContent);
        Assert.False(Directory.Exists(Path.Combine(UploadsRoot, state.Id)));
    }

    [Fact]
    public async Task An_upload_nobody_continues_is_removed_after_a_day_and_one_given_up_at_once()
    {
        var remote = Remote();
        var state = await remote.Uploads.BeginAsync(new NewPackageUpload(Request(), Files()));
        await SendAsync(remote, state.Id, 0, 0, _payload.AsSpan(0, 5000));

        _time.Now += PackageUploads.Expiry - TimeSpan.FromMinutes(1);
        Assert.Equal(0, await _folder.Engine.Uploads.SweepAsync());
        await SendAsync(remote, state.Id, 0, 5000, _payload.AsSpan(5000, 5000)); // a piece keeps it for another day
        _time.Now += TimeSpan.FromHours(2);
        Assert.Equal(0, await _folder.Engine.Uploads.SweepAsync());
        _time.Now += PackageUploads.Expiry;
        Assert.Equal(1, await _folder.Engine.Uploads.SweepAsync());
        Assert.Empty(Directory.EnumerateFileSystemEntries(UploadsRoot));
        Assert.Equal("UploadNotFound", (await Assert.ThrowsAsync<DistException>(() => remote.Uploads.GetAsync(state.Id))).ErrorId);

        var given = await remote.Uploads.BeginAsync(new NewPackageUpload(Request(), Files()));
        await remote.Uploads.AbandonAsync(given.Id);
        Assert.Empty(Directory.EnumerateFileSystemEntries(UploadsRoot));
        Assert.Empty(StoredContent);
    }

    [Fact]
    public async Task Content_stored_by_a_completion_cut_short_is_removed_with_its_expired_upload()
    {
        var remote = Remote();
        var state = await remote.Uploads.BeginAsync(new NewPackageUpload(Request(), Files()));
        await SendWholeAsync(remote, state, [_payload, _script]);
        // As if the manager died after moving the files into the store and before writing the package.
        foreach (var (file, index) in Files().Select((f, i) => (f, i)))
        {
            await _folder.Engine.Content.AdoptFileAsync(Path.Combine(UploadsRoot, state.Id, $"{index}.part"), 4096, file.Sha256);
        }
        Assert.Equal(2, StoredContent.Count());

        _time.Now += PackageUploads.Expiry + TimeSpan.FromMinutes(1);
        Assert.Equal(1, await _folder.Engine.Uploads.SweepAsync());
        Assert.Empty(StoredContent);
        Assert.Empty(await _folder.Engine.Packages.ListAsync());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("md5=:AAAA:")]
    [InlineData("sha-256=AAAA")]
    [InlineData("sha-256=:c2hvcnQ=:")]
    public void A_digest_header_that_names_no_sha256_is_none(string? header) => Assert.Null(PackageUploadProtocol.ParseDigest(header));

    [Fact]
    public void A_digest_header_round_trips()
    {
        var hash = SHA256.HashData(_script);
        Assert.Equal(hash, PackageUploadProtocol.ParseDigest("md5=:x:, " + PackageUploadProtocol.Digest(hash)));
    }

    public void Dispose() => _folder.Dispose();
}
