using System.Security.Cryptography;
using System.Text;
using JP1Dist.Contracts;
using JP1Dist.Core.Security;
using JP1Dist.Protocol;
using JP1Dist.Tests.Agent;
using JP1Dist.Tests.Engine;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// Access keys in the engine: created with a name and a role and shown once, stored as a hash, verified by a lookup of their
/// id, refused when unknown, expired or removed (at once), and their names held to the product's one name rule.
/// </summary>
public sealed class AccessKeyTests : IDisposable
{
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero));
    private readonly TestFolder _folder;

    public AccessKeyTests() => _folder = new TestFolder(_time);

    private AccessKeyService Keys => _folder.Engine.AccessKeys;

    private async Task<int> AuditCountAsync()
    {
        await using var db = _folder.Engine.Database.CreateContext();
        return await db.AuditEntries.CountAsync();
    }

    private async Task AssertRefusedAsync(string errorId, string presented)
    {
        var refused = await Assert.ThrowsAsync<DistException>(() => Keys.VerifyAsync(presented, "10.1.2.3"));
        Assert.Equal(errorId, refused.ErrorId);
        Assert.Equal(DistErrorKind.Unauthorized, refused.Kind);
    }

    [Fact]
    public async Task A_new_key_is_shown_once_stored_as_the_hash_of_its_secret_and_verified_as_its_name_and_role()
    {
        var created = await Keys.CreateAsync(new NewAccessKeyRequest("ci-pipeline", DistRole.Operator, Description: "Build server"));

        var parts = created.Key!.Split('.');
        Assert.Equal(3, parts.Length);
        Assert.Equal(AccessKeyService.Prefix, parts[0]);
        Assert.Equal(created.KeyId, parts[1]);
        Assert.Matches("^[0-9a-f]{16}$", parts[1]);
        Assert.Equal(32, Convert.FromBase64String(parts[2].Replace('-', '+').Replace('_', '/') + "=").Length); // 256 random bits
        Assert.Equal(("ci-pipeline", DistRole.Operator, "Active", "Build server", DistCaller.Local.Principal),
            (created.Name, created.Role, created.Status, created.Description, created.CreatedBy));
        Assert.Null(created.ExpiresAt);

        var listed = Assert.Single(await Keys.ListAsync());
        Assert.Null(listed.Key); // shown once
        Assert.Equal(created with { Key = null }, listed);

        await using (var db = _folder.Engine.Database.CreateContext())
        {
            var row = await db.AccessKeys.AsNoTracking().SingleAsync();
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(parts[2]))), row.SecretHash);
            var stored = string.Join("|", row.Name, row.KeyId, row.SecretHash, row.Description, row.CreatedBy);
            Assert.DoesNotContain(parts[2], stored, StringComparison.Ordinal);
        }

        var caller = await Keys.VerifyAsync(created.Key, "10.1.2.3");
        Assert.Equal(new DistCaller("ci-pipeline", "10.1.2.3", DistRole.Operator), caller);
        Assert.Equal(_time.Now.LocalDateTime, (await Keys.ListAsync()).Single().LastUsedAt);
        Assert.NotEqual(created.Key, (await Keys.CreateAsync(new NewAccessKeyRequest("second", DistRole.Reader))).Key);
    }

    [Fact]
    public async Task Presented_text_that_is_not_a_key_of_this_manager_is_refused_the_same_way()
    {
        var created = await Keys.CreateAsync(new NewAccessKeyRequest("reader", DistRole.Reader));
        var parts = created.Key!.Split('.');

        await AssertRefusedAsync("AccessKeyMissing", "");
        await AssertRefusedAsync("AccessKeyMissing", "   ");
        await AssertRefusedAsync("AccessKeyUnknown", "not a key");
        await AssertRefusedAsync("AccessKeyUnknown", $"{parts[0]}.{parts[1]}.{parts[2]}x"); // the right id with another secret
        await AssertRefusedAsync("AccessKeyUnknown", $"{parts[0]}.0000000000000000.{parts[2]}"); // the secret under an unknown id
        await AssertRefusedAsync("AccessKeyUnknown", $"other.{parts[1]}.{parts[2]}");
        await AssertRefusedAsync("AccessKeyUnknown", $"{parts[0]}.{parts[1]}.{parts[2]}.extra");
        Assert.Null((await Keys.ListAsync()).Single().LastUsedAt); // a refusal is no use
        Assert.Equal("reader", (await Keys.VerifyAsync($"  {created.Key}  ", "10.1.2.3")).Principal);
    }

    [Fact]
    public async Task A_removed_key_is_refused_at_once_and_its_name_can_be_given_again()
    {
        var first = await Keys.CreateAsync(new NewAccessKeyRequest("ops", DistRole.Administrator));
        Assert.Equal(DistRole.Administrator, (await Keys.VerifyAsync(first.Key, "10.1.2.3")).Role);

        await Keys.RemoveAsync("OPS");
        await AssertRefusedAsync("AccessKeyRemoved", first.Key!);
        Assert.Empty(await Keys.ListAsync());
        var again = await Assert.ThrowsAsync<DistException>(() => Keys.RemoveAsync("ops"));
        Assert.Equal(("AccessKeyNotFound", DistErrorKind.NotFound), (again.ErrorId, again.Kind));

        var second = await Keys.CreateAsync(new NewAccessKeyRequest("ops", DistRole.Reader));
        Assert.Equal(DistRole.Reader, (await Keys.VerifyAsync(second.Key, "10.1.2.3")).Role);
        await AssertRefusedAsync("AccessKeyRemoved", first.Key!); // the new key of that name does not revive the old one
    }

    [Fact]
    public async Task A_key_is_refused_from_the_moment_it_expires()
    {
        var created = await Keys.CreateAsync(new NewAccessKeyRequest("temporary", DistRole.Reader, TimeSpan.FromHours(8)));
        Assert.Equal(_time.Now.AddHours(8).LocalDateTime, created.ExpiresAt);

        _time.Now = _time.Now.AddHours(8).AddTicks(-1);
        Assert.Equal("temporary", (await Keys.VerifyAsync(created.Key, "10.1.2.3")).Principal);

        _time.Now = _time.Now.AddTicks(1);
        await AssertRefusedAsync("AccessKeyExpired", created.Key!);
        Assert.Equal("Expired", (await Keys.ListAsync()).Single().Status);
        await AssertRefusedAsync("AccessKeyUnknown", created.Key! + "x"); // expired or not is told only to whoever holds the secret
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(731.0)]
    public async Task An_expiry_of_zero_or_less_or_beyond_two_years_is_refused_and_creates_nothing(double days)
    {
        var refused = await Assert.ThrowsAsync<DistException>(() =>
            Keys.CreateAsync(new NewAccessKeyRequest("k", DistRole.Reader, TimeSpan.FromDays(days))));
        Assert.Equal(("AccessKeyExpiryInvalid", DistErrorKind.InvalidArgument), (refused.ErrorId, refused.Kind));
        Assert.Empty(await Keys.ListAsync());
        Assert.Equal(0, await AuditCountAsync());
    }

    [Fact]
    public async Task Names_follow_the_product_rule_and_are_unique_without_regard_to_case()
    {
        foreach (var (name, errorId) in new[] { ("", "AccessKeyNameMissing"), ("bad/name", "AccessKeyNameInvalid"), (@"CORP\admin", "AccessKeyNameInvalid"), (new string('k', 201), "AccessKeyNameInvalid") })
        {
            var refused = await Assert.ThrowsAsync<DistException>(() => Keys.CreateAsync(new NewAccessKeyRequest(name, DistRole.Reader)));
            Assert.Equal((errorId, DistErrorKind.InvalidArgument), (refused.ErrorId, refused.Kind));
        }
        var role = await Assert.ThrowsAsync<DistException>(() => Keys.CreateAsync(new NewAccessKeyRequest("k", (DistRole)7)));
        Assert.Equal("AccessKeyRoleInvalid", role.ErrorId);

        Assert.Equal("Help desk (Tokyo)", (await Keys.CreateAsync(new NewAccessKeyRequest("  Help desk (Tokyo) ", DistRole.Reader))).Name);
        var taken = await Assert.ThrowsAsync<DistException>(() => Keys.CreateAsync(new NewAccessKeyRequest("HELP DESK (TOKYO)", DistRole.Operator)));
        Assert.Equal(("AccessKeyAlreadyExists", DistErrorKind.AlreadyExists), (taken.ErrorId, taken.Kind));
        Assert.Equal(DistRole.Reader, Assert.Single(await Keys.ListAsync()).Role);
        Assert.Single(await Keys.ListAsync("help*"));
        Assert.Empty(await Keys.ListAsync("other*"));
        Assert.Equal(1, await AuditCountAsync()); // only the key that was created
    }

    public void Dispose() => _folder.Dispose();
}
