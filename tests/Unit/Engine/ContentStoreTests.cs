using System.Security.Cryptography;
using JP1Dist.Core.Storage;
using Xunit;

namespace JP1Dist.Tests.Engine;

public sealed class ContentStoreTests : IDisposable
{
    private readonly TestFolder _folder = new();

    [Fact]
    public async Task Keeps_each_content_once_and_hashes_every_segment()
    {
        var bytes = new byte[10_000];
        new Random(7).NextBytes(bytes);
        var first = Path.Combine(_folder.Root, "a.bin");
        var second = Path.Combine(_folder.Root, "b.bin");
        await File.WriteAllBytesAsync(first, bytes);
        await File.WriteAllBytesAsync(second, bytes);
        var store = new ContentStore(Path.Combine(_folder.Root, "content"));

        var a = await store.AddFileAsync(first, 4096);
        var b = await store.AddFileAsync(second, 4096);

        Assert.Equal(a.Sha256, b.Sha256);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), a.Sha256);
        Assert.Single(Directory.GetFiles(store.Root, "*", SearchOption.AllDirectories));
        Assert.Equal(3, a.SegmentHashes.Count);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(4096, 4096))), a.SegmentHashes[1]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(8192))), a.SegmentHashes[2]);
    }

    [Fact]
    public async Task An_empty_file_has_one_empty_segment()
    {
        var path = _folder.WriteFile("empty.txt", "");
        var stored = await new ContentStore(Path.Combine(_folder.Root, "content")).AddFileAsync(path, 4096);
        Assert.Equal(0, stored.Size);
        Assert.Equal([Convert.ToHexStringLower(SHA256.HashData([]))], stored.SegmentHashes);
    }

    [Fact]
    public void Refuses_a_path_that_is_not_a_hash() =>
        Assert.Throws<ArgumentException>(() => new ContentStore(_folder.Root).PathOf("../../etc/passwd"));

    public void Dispose() => _folder.Dispose();
}
