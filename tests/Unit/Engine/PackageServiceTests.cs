using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Security;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

public sealed class PackageServiceTests : IDisposable
{
    private readonly TestFolder _folder = new();

    private NewPackageRequest Request(string name = "Editor", string version = "1.0", string? path = null, string command = "setup.sh") =>
        new(name, version, path ?? Path.Combine(_folder.Root, "pkg"), command, ["/quiet"], [0, 3010], 4096);

    public PackageServiceTests()
    {
        _folder.WriteFile("pkg/setup.sh", "#!/bin/sh\nexit 0\n");
        _folder.WriteFile("pkg/data/payload.bin", new string('x', 10_000));
    }

    [Fact]
    public async Task Registers_files_segments_and_a_signed_manifest()
    {
        var package = await _folder.Engine.Packages.CreateAsync(Request());

        Assert.Equal(2, package.FileCount);
        Assert.Equal(1 + 3, package.SegmentCount);
        Assert.Equal(["/quiet"], package.InstallArguments);
        Assert.Equal([0, 3010], package.SuccessExitCodes);
        await using var db = _folder.Engine.Database.CreateContext();
        var row = await db.Packages.SingleAsync();
        Assert.True(ManifestSigner.Verify(_folder.Engine.Signer.PublicKey, row.ManifestJson, row.ManifestSignature));
        Assert.False(ManifestSigner.Verify(_folder.Engine.Signer.PublicKey, row.ManifestJson.Replace("setup.sh", "evil.sh", StringComparison.Ordinal), row.ManifestSignature));
        var manifest = JsonSerializer.Deserialize<PackageManifest>(row.ManifestJson, ProtocolJson.Options)!;
        Assert.Equal(["data/payload.bin", "setup.sh"], manifest.Files.Select(f => f.Path));
        Assert.All(manifest.Files, f => Assert.True(_folder.Engine.Content.Contains(f.Sha256)));
    }

    [Fact]
    public async Task The_same_name_and_version_twice_is_refused_and_changes_nothing()
    {
        await _folder.Engine.Packages.CreateAsync(Request());
        var error = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Packages.CreateAsync(Request(name: "EDITOR")));
        Assert.Equal("PackageAlreadyExists", error.ErrorId);
        Assert.Single(await _folder.Engine.Packages.ListAsync());
    }

    [Theory]
    [InlineData("missing-folder", "setup.sh", "PackagePathNotFound")]
    [InlineData(null, "bin/setup.sh", "InstallCommandNotFound")]
    [InlineData(null, "", "InstallCommandMissing")]
    public async Task Bad_input_is_refused_before_anything_is_stored(string? path, string command, string errorId)
    {
        var request = Request(path: path is null ? null : Path.Combine(_folder.Root, path), command: command);
        var error = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Packages.CreateAsync(request));
        Assert.Equal(errorId, error.ErrorId);
        Assert.Empty(await _folder.Engine.Packages.ListAsync());
        Assert.False(Directory.Exists(_folder.Engine.Content.Root) && Directory.EnumerateFiles(_folder.Engine.Content.Root, "*", SearchOption.AllDirectories).Any());
    }

    [Fact]
    public async Task A_bare_program_name_is_a_command_the_client_has()
    {
        var package = await _folder.Engine.Packages.CreateAsync(Request(command: "msiexec.exe"));
        Assert.Equal("msiexec.exe", package.InstallCommand);
    }

    [Fact]
    public async Task Removing_a_package_removes_content_no_other_package_uses()
    {
        await _folder.Engine.Packages.CreateAsync(Request(version: "1.0"));
        await _folder.Engine.Packages.CreateAsync(Request(version: "1.1"));
        await _folder.Engine.Packages.RemoveAsync("Editor", "1.0", force: false);
        Assert.Equal(2, Directory.EnumerateFiles(_folder.Engine.Content.Root, "*", SearchOption.AllDirectories).Count());
        await _folder.Engine.Packages.RemoveAsync("Editor", "1.1", force: false);
        Assert.Empty(Directory.EnumerateFiles(_folder.Engine.Content.Root, "*", SearchOption.AllDirectories));
    }

    public void Dispose() => _folder.Dispose();
}
