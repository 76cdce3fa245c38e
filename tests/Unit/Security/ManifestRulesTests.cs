using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>What a manifest must be before an agent or a relay uses any hash or path of it (<see cref="ManifestRules"/>).</summary>
public sealed class ManifestRulesTests
{
    private static readonly string Hash = new('a', 64);

    private static ManifestFile File(string path = "setup.exe", long size = 10, int? segments = null, string? sha256 = null) =>
        new(path, size, sha256 ?? Hash, Enumerable.Repeat(Hash, segments ?? (int)((size + 3) / 4)).ToList());

    private static PackageManifest Manifest(params ManifestFile[] files) =>
        new("App", "1.0", 4, files, "setup.exe", [], [0], 60);

    [Fact]
    public void A_manifest_as_packaging_makes_it_keeps_the_rules()
    {
        Assert.Null(ManifestRules.Validate(Manifest(File(), File("sub/dir/readme.txt", 8), File("bin\\tool.dll", 1), File("a..b", 4), File("...", 4))));
        Assert.Null(ManifestRules.Validate(Manifest()));
        Assert.Null(ManifestRules.Validate(Manifest(File("ABCDEF.bin", sha256: new string('F', 64)))));
    }

    [Theory]
    [InlineData(10L, 4L, 3, true)]
    [InlineData(10L, 4L, 2, false)]
    [InlineData(10L, 4L, 4, false)]
    [InlineData(8L, 4L, 2, true)]
    [InlineData(8L, 4L, 3, false)]
    [InlineData(1L, 4L, 1, true)]
    [InlineData(0L, 4L, 1, true)]
    [InlineData(0L, 4L, 0, true)]
    [InlineData(0L, 4L, 2, false)]
    [InlineData(long.MaxValue, 64L * 1024 * 1024, int.MaxValue, false)]
    public void The_segment_count_must_fit_the_size_and_segment_size(long size, long segmentSize, int count, bool fits) =>
        Assert.Equal(fits, ManifestRules.SegmentCountFits(size, segmentSize, count));

    [Fact]
    public void A_segment_count_that_does_not_fit_is_refused_with_the_numbers()
    {
        var problem = ManifestRules.Validate(Manifest(File(size: 10, segments: 2)));
        Assert.Contains("'setup.exe'", problem, StringComparison.Ordinal);
        Assert.Contains("2 segment hashes do not fit 10 bytes in segments of 4", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(64L * 1024 * 1024 + 1)]
    public void A_segment_size_out_of_range_is_refused(long segmentSize) =>
        Assert.Contains("segment size", ManifestRules.Validate(Manifest(File()) with { SegmentSize = segmentSize }), StringComparison.Ordinal);

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("/etc/passwd")]
    [InlineData("\\Windows\\system.ini")]
    [InlineData("\\\\server\\share\\x")]
    [InlineData("C:\\Windows\\x.dll")]
    [InlineData("C:x.dll")]
    [InlineData("..")]
    [InlineData("../x")]
    [InlineData("a/../../x")]
    [InlineData("a\\..\\..\\x")]
    [InlineData("a/b/..")]
    [InlineData("new\nline")]
    public void A_path_that_is_empty_absolute_or_leaves_the_package_is_refused(string path)
    {
        Assert.False(ManifestRules.IsPackagePath(path));
        Assert.Contains("the path is empty, absolute or leaves the package folder", ManifestRules.Validate(Manifest(File(path))), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../../etc/cron.d/x")]
    [InlineData("aaaa")]
    [InlineData("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("")]
    public void A_file_or_segment_hash_that_is_not_a_sha256_is_refused(string hash)
    {
        Assert.False(ContentHash.IsHash(hash));
        Assert.Contains("hash is not a SHA-256", ManifestRules.Validate(Manifest(File(sha256: hash))), StringComparison.Ordinal);
        var badSegment = File() with { Segments = [Hash, hash, Hash] };
        Assert.Contains("segment 1 is not a SHA-256", ManifestRules.Validate(Manifest(badSegment)), StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_parts_and_negative_sizes_are_refused()
    {
        Assert.NotNull(ManifestRules.Validate(null));
        Assert.NotNull(ManifestRules.Validate(Manifest() with { Files = null! }));
        Assert.Contains("file 2", ManifestRules.Validate(Manifest(File(), null!)), StringComparison.Ordinal);
        Assert.Contains("lists no segments", ManifestRules.Validate(Manifest(File() with { Segments = null! })), StringComparison.Ordinal);
        Assert.Contains("negative", ManifestRules.Validate(Manifest(File(size: -1, segments: 0))), StringComparison.Ordinal);
        Assert.Contains("hash is not", ManifestRules.Validate(Manifest(File(sha256: null!) with { Sha256 = null! })), StringComparison.Ordinal);
    }
}
