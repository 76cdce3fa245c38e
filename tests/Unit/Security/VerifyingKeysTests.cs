using System.Security.Cryptography;
using JP1Dist.Protocol.Signing;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// <see cref="ManifestSigner.Verify"/> with its imported keys kept (<see cref="VerifyingKeys"/>): the same answers as a key
/// imported for each check, from any number of threads, and bounded however many keys it is asked about.
/// </summary>
public sealed class VerifyingKeysTests
{
    private static (string PublicKey, Func<string, string> Sign) NewKey()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (Convert.ToBase64String(key.ExportSubjectPublicKeyInfo()),
            text => Convert.ToBase64String(key.SignData(System.Text.Encoding.UTF8.GetBytes(text), HashAlgorithmName.SHA256)));
    }

    [Fact]
    public void A_kept_key_accepts_what_it_signed_and_refuses_anything_else_each_time()
    {
        var (publicKey, sign) = NewKey();
        var (otherKey, _) = NewKey();
        var signature = sign("manifest");
        for (var round = 0; round < 3; round++)
        {
            Assert.True(ManifestSigner.Verify(publicKey, "manifest", signature));
            Assert.False(ManifestSigner.Verify(publicKey, "manifest ", signature));
            Assert.False(ManifestSigner.Verify(otherKey, "manifest", signature));
            Assert.False(ManifestSigner.Verify(publicKey, "manifest", sign("another")));
        }
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("AAAA")]
    [InlineData("")]
    public void A_value_that_is_not_a_public_key_fails_the_check_and_is_not_kept(string notAKey)
    {
        var (publicKey, sign) = NewKey();
        Assert.False(ManifestSigner.Verify(notAKey, "manifest", sign("manifest")));
        Assert.False(VerifyingKeys.Holds(notAKey));
        Assert.True(ManifestSigner.Verify(publicKey, "manifest", sign("manifest")));
    }

    [Fact]
    public void A_signature_that_is_not_base64_fails_the_check_and_the_key_still_checks_the_next()
    {
        var (publicKey, sign) = NewKey();
        Assert.False(ManifestSigner.Verify(publicKey, "manifest", "not base64!"));
        Assert.False(ManifestSigner.Verify(publicKey, "manifest", Convert.ToBase64String(new byte[7])));
        Assert.True(ManifestSigner.Verify(publicKey, "manifest", sign("manifest")));
    }

    [Fact]
    public void A_key_written_with_whitespace_is_the_same_key_and_many_such_writings_keep_within_the_bound()
    {
        var (publicKey, sign) = NewKey();
        var signature = sign("manifest");
        for (var at = 1; at <= VerifyingKeys.MaxKeys + 4; at++)
        {
            var written = publicKey.Insert(at, "\n");
            Assert.True(ManifestSigner.Verify(written, "manifest", signature));
        }
        // Every key is kept under its canonical writing, so the twenty writings above took one place at most.
        Assert.All(VerifyingKeys.Names, name => Assert.Equal(Convert.ToBase64String(Convert.FromBase64String(name)), name));
        Assert.DoesNotContain(VerifyingKeys.Names, name => name.Contains('\n'));
        Assert.InRange(VerifyingKeys.Count, 1, VerifyingKeys.MaxKeys);
    }

    [Fact]
    public async Task Threads_checking_at_once_each_get_the_right_answer()
    {
        var (publicKey, sign) = NewKey();
        var good = sign("manifest");
        var bad = sign("other");
        var wrong = await Task.WhenAll(Enumerable.Range(0, 8).Select(thread => Task.Run(() =>
            Enumerable.Range(0, 100).Count(i => ManifestSigner.Verify(publicKey, "manifest", (i + thread) % 2 == 0 ? good : bad) != ((i + thread) % 2 == 0)))));
        Assert.All(wrong, count => Assert.Equal(0, count));
    }

    [Fact]
    public void More_keys_than_are_kept_still_check_and_no_more_than_the_bound_are_kept()
    {
        var keys = Enumerable.Range(0, VerifyingKeys.MaxKeys + 4).Select(_ => NewKey()).ToList();
        foreach (var (publicKey, sign) in keys)
        {
            Assert.True(ManifestSigner.Verify(publicKey, "manifest", sign("manifest")));
            Assert.False(ManifestSigner.Verify(publicKey, "manifest", sign("other")));
        }
        Assert.InRange(VerifyingKeys.Count, 1, VerifyingKeys.MaxKeys);
    }
}
