using JP1Dist.Contracts;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>
/// Tokens that require approval, pending registrations, approval (new and replacing), denial and revocation, at the
/// level of the host service: what each step admits, and that every refusal changes nothing.
/// </summary>
public sealed class EnrollmentApprovalTests : IDisposable
{
    private readonly TestFolder _folder = new();

    private Core.Hosts.HostService Hosts => _folder.Engine.Hosts;

    private static RegisterRequest Request(string token, string name, string address = "10.0.0.9") =>
        new(token, name, "Linux", "6.1", "X64", [address], null, "1.0");

    private async Task<string> ApprovalTokenAsync(string description = "approval") =>
        (await Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest(description, RequireApproval: true))).Token!;

    /// <summary>Everything a refusal must leave as it was: hosts, pending registrations, revocations, token uses, memberships.</summary>
    private async Task<string> StateAsync()
    {
        await using var db = _folder.Engine.Database.CreateContext();
        var hosts = await db.Hosts.AsNoTracking().OrderBy(h => h.NameKey).Select(h => h.Name + ":" + h.Id + ":" + h.CredentialHash + ":" + h.AddressesJson).ToListAsync();
        var pending = await db.PendingEnrollments.AsNoTracking().OrderBy(p => p.Id).Select(p => p.Name + ":" + p.HostId + ":" + p.ApprovedAt + ":" + p.CollectedAt).ToListAsync();
        var revoked = await db.RevokedCredentials.AsNoTracking().OrderBy(r => r.Id).Select(r => r.HostId + ":" + r.Reason).ToListAsync();
        var uses = await db.EnrollmentTokens.AsNoTracking().OrderBy(t => t.Id).Select(t => t.UseCount).ToListAsync();
        var members = await db.IdGroupMembers.AsNoTracking().CountAsync();
        return string.Join("|", hosts) + "#" + string.Join("|", pending) + "#" + string.Join("|", revoked) + "#" + string.Join(",", uses) + "#" + members;
    }

    private async Task AssertRefusedAsync(string errorId, Func<Task> action)
    {
        var before = await StateAsync();
        var error = await Assert.ThrowsAsync<DistException>(action);
        Assert.Equal(errorId, error.ErrorId);
        Assert.Equal(before, await StateAsync());
    }

    [Fact]
    public async Task A_host_admitted_by_an_approval_token_waits_in_no_group_until_approved_then_joins_its_groups()
    {
        await _folder.Engine.IdGroups.CreateAsync("Everyone", null);
        await _folder.Engine.IdGroups.SetPolicyAsync("Everyone", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["*"] }]);
        var token = await ApprovalTokenAsync("lab");
        Assert.True((await Hosts.ListEnrollmentTokensAsync()).Single().RequireApproval);

        var pending = await Hosts.RegisterAsync(Request(token, "pc-new"));
        Assert.True(pending.Pending);
        Assert.Empty(await Hosts.ListAsync());
        Assert.Empty((await _folder.Engine.IdGroups.ListAsync("Everyone")).Single().Members);
        Assert.Null(await Hosts.AuthenticateAsync(pending.HostId, pending.Credential)); // no work, no reports
        var listed = Assert.Single(await Hosts.ListPendingAsync());
        Assert.Equal(("pc-new", pending.HostId, "lab", false, "Linux", "10.0.0.9"),
            (listed.Name, listed.Id, listed.TokenDescription, listed.ReplacesHost, listed.OS, listed.Addresses.Single()));
        Assert.Equal(DistHost.ManagerHigherSystem, listed.HigherSystem);
        Assert.Single(await Hosts.ListPendingAsync("PC-*"));
        Assert.Empty(await Hosts.ListPendingAsync("other*"));

        // Asking again with the pending credential: still pending, the same identity, no token use counted.
        var again = await Hosts.RegisterAsync(Request("", "pc-new") with { HostId = pending.HostId, Credential = pending.Credential });
        Assert.Equal((pending.HostId, pending.Credential, true), (again.HostId, again.Credential, again.Pending));
        Assert.Equal(1, (await Hosts.ListEnrollmentTokensAsync()).Single().UseCount);

        var approved = await Hosts.ApproveAsync("PC-NEW", replace: false);
        Assert.Equal(pending.HostId, approved.Id);
        Assert.Equal(["pc-new"], (await Hosts.ListAsync()).Select(h => h.Name));
        Assert.Equal(["pc-new"], (await _folder.Engine.IdGroups.ListAsync("Everyone")).Single().HostNames); // policies apply at once
        Assert.Empty(await Hosts.ListPendingAsync());
        Assert.Equal(pending.HostId, await Hosts.AuthenticateAsync(pending.HostId, pending.Credential));

        // The agent collects its approval with its credential: registered, same identity, still no token use counted.
        var collected = await Hosts.RegisterAsync(Request("", "pc-new") with { HostId = pending.HostId, Credential = pending.Credential });
        Assert.Equal((pending.HostId, pending.Credential, false), (collected.HostId, collected.Credential, collected.Pending));
        Assert.Equal(1, (await Hosts.ListEnrollmentTokensAsync()).Single().UseCount);
    }

    [Fact]
    public async Task An_enrolled_name_without_its_credential_becomes_a_pending_replacement_that_needs_Replace()
    {
        var enrolled = await _folder.RegisterHostAsync("pc-a");
        await _folder.Engine.HostGroups.CreateAsync("Sales", null);
        await _folder.Engine.HostGroups.AddMembersAsync("Sales", ["pc-a"], null);
        var token = await ApprovalTokenAsync();

        var replacement = await Hosts.RegisterAsync(Request(token, "PC-A", "10.0.0.77"));
        Assert.True(replacement.Pending);
        Assert.Equal(enrolled.HostId, replacement.HostId);
        Assert.NotEqual(enrolled.Credential, replacement.Credential);
        // The enrolled host is untouched and keeps working; the newcomer is not it yet.
        Assert.Equal(enrolled.HostId, await Hosts.AuthenticateAsync(enrolled.HostId, enrolled.Credential));
        Assert.Null(await Hosts.AuthenticateAsync(replacement.HostId, replacement.Credential));
        Assert.Equal(["10.0.0.1"], (await Hosts.ListAsync()).Single().Addresses);
        Assert.True(Assert.Single(await Hosts.ListPendingAsync()).ReplacesHost);

        // A second registration under the same name while one waits is refused; so is approving without -Replace.
        await AssertRefusedAsync("HostNamePending", () => Hosts.RegisterAsync(Request(token, "pc-a")));
        var required = await Assert.ThrowsAsync<DistException>(() => Hosts.ApproveAsync("pc-a", replace: false));
        Assert.Contains("-Replace", required.Message, StringComparison.Ordinal);
        await AssertRefusedAsync("HostReplaceRequired", () => Hosts.ApproveAsync("pc-a", replace: false));

        var approved = await Hosts.ApproveAsync("pc-a", replace: true);
        Assert.Equal(enrolled.HostId, approved.Id);
        Assert.Equal(["10.0.0.77"], approved.Addresses);
        // The same host (the name as the new computer spells it): groups kept.
        Assert.Equal(["PC-A"], (await _folder.Engine.HostGroups.ListAsync("Sales")).Single().Hosts);
        Assert.Equal(enrolled.HostId, await Hosts.AuthenticateAsync(replacement.HostId, replacement.Credential));
        var revoked = await Assert.ThrowsAsync<DistException>(() => Hosts.AuthenticateAsync(enrolled.HostId, enrolled.Credential));
        Assert.Equal(RevokedCredential.ErrorId, revoked.ErrorId);
        Assert.Equal(DistErrorKind.Unauthorized, revoked.Kind);
    }

    [Fact]
    public async Task A_token_without_approval_still_refuses_an_enrolled_name()
    {
        await _folder.RegisterHostAsync("pc-a");
        var token = (await Hosts.NewEnrollmentTokenAsync("plain")).Token!;
        await AssertRefusedAsync("HostNameTaken", () => Hosts.RegisterAsync(Request(token, "pc-a")));
    }

    [Fact]
    public async Task Approving_or_denying_what_does_not_wait_is_refused_and_changes_nothing()
    {
        await _folder.RegisterHostAsync("pc-enrolled");
        var token = await ApprovalTokenAsync();
        await Hosts.RegisterAsync(Request(token, "pc-waiting"));

        await AssertRefusedAsync("PendingHostNotFound", () => Hosts.ApproveAsync("pc-unknown", replace: false));
        await AssertRefusedAsync("PendingHostNotFound", () => Hosts.DenyAsync("pc-unknown"));
        await AssertRefusedAsync("HostNotPending", () => Hosts.ApproveAsync("pc-enrolled", replace: true));
        await AssertRefusedAsync("HostNotPending", () => Hosts.DenyAsync("pc-enrolled"));
        await AssertRefusedAsync("HostNameInvalid", () => Hosts.ApproveAsync("pc-*", replace: false));

        // A name enrolled by another computer (a plain token) after the registration asked: approval is refused.
        var plain = (await Hosts.NewEnrollmentTokenAsync("plain")).Token!;
        await Hosts.RegisterAsync(Request(plain, "pc-waiting-2"));
        await Hosts.RegisterAsync(Request(token, "pc-late"));
        await Hosts.RegisterAsync(Request(plain, "PC-LATE"));
        await AssertRefusedAsync("HostNameTaken", () => Hosts.ApproveAsync("pc-late", replace: true));

        await Hosts.ApproveAsync("pc-waiting", replace: false);
        await AssertRefusedAsync("HostNotPending", () => Hosts.ApproveAsync("pc-waiting", replace: false));
    }

    [Fact]
    public async Task A_denied_registration_is_refused_from_then_on_even_when_it_registers_again()
    {
        var token = await ApprovalTokenAsync();
        var pending = await Hosts.RegisterAsync(Request(token, "pc-intruder"));
        await Hosts.DenyAsync("pc-intruder");
        Assert.Empty(await Hosts.ListPendingAsync());
        Assert.Empty(await Hosts.ListAsync());

        var refused = await Assert.ThrowsAsync<DistException>(() => Hosts.AuthenticateAsync(pending.HostId, pending.Credential));
        Assert.Equal(RevokedCredential.ErrorId, refused.ErrorId);
        Assert.Contains("denied", refused.Message, StringComparison.Ordinal);
        await AssertRefusedAsync(RevokedCredential.ErrorId,
            () => Hosts.RegisterAsync(Request(token, "pc-intruder") with { HostId = pending.HostId, Credential = pending.Credential }));
    }

    [Fact]
    public async Task Remove_with_Revoke_refuses_the_credential_and_its_re_registration_and_without_it_behaves_as_before()
    {
        var revokedHost = await _folder.RegisterHostAsync("pc-stolen");
        var plainHost = await _folder.RegisterHostAsync("pc-retired");
        var token = (await Hosts.NewEnrollmentTokenAsync("plain")).Token!;

        await Hosts.RemoveAsync("pc-retired", force: false, revoke: false);
        Assert.Null(await Hosts.AuthenticateAsync(plainHost.HostId, plainHost.Credential)); // simply unknown, as before

        await Hosts.RemoveAsync("pc-stolen", force: false, revoke: true);
        Assert.Empty(await Hosts.ListAsync());
        var refused = await Assert.ThrowsAsync<DistException>(() => Hosts.AuthenticateAsync(revokedHost.HostId, revokedHost.Credential));
        Assert.Equal(RevokedCredential.ErrorId, refused.ErrorId);
        Assert.Contains("pc-stolen", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Remove-DistHost -Revoke", refused.Message, StringComparison.Ordinal);

        // Registering again with that identity is refused before the token is looked at (no use counted)...
        await AssertRefusedAsync(RevokedCredential.ErrorId,
            () => Hosts.RegisterAsync(Request(token, "pc-stolen") with { HostId = revokedHost.HostId, Credential = revokedHost.Credential }));
        await using (var db = _folder.Engine.Database.CreateContext())
        {
            Assert.Equal(Core.Hosts.RevocationReasons.Removed, (await db.RevokedCredentials.SingleAsync()).Reason);
        }
        // ...while a computer with a cleared state folder enrolls anew, under a new identity.
        var fresh = await Hosts.RegisterAsync(Request(token, "pc-stolen"));
        Assert.NotEqual(revokedHost.HostId, fresh.HostId);
    }

    [Fact]
    public async Task A_pending_host_below_a_relay_is_placed_there_when_approved()
    {
        var relayToken = (await Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relays", Relay: true))).Token!;
        var relay = await Hosts.RegisterAsync(Request(relayToken, "relay-1") with { Kind = "Relay", RelayUrl = "http://127.0.0.1:1" });
        var token = await ApprovalTokenAsync();
        await AssertRefusedAsync("HigherSystemInvalid", () => Hosts.RegisterAsync(Request(token, "pc-below"), Guid.NewGuid()));

        var pending = await Hosts.RegisterAsync(Request(token, "pc-below"), relay.HostId);
        Assert.Equal("relay-1", Assert.Single(await Hosts.ListPendingAsync()).HigherSystem);
        var approved = await Hosts.ApproveAsync("pc-below", replace: false);
        Assert.Equal("relay-1", approved.HigherSystem);
        Assert.Equal("relay-1", (await Hosts.ListAsync("pc-below")).Single().HigherSystem);
        var collected = await Hosts.RegisterAsync(Request("", "pc-below") with { HostId = pending.HostId, Credential = pending.Credential }, relay.HostId);
        Assert.False(collected.Pending);
    }

    public void Dispose() => _folder.Dispose();
}
