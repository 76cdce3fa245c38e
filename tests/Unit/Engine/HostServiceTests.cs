using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Security;
using Xunit;

namespace JP1Dist.Tests.Engine;

public sealed class HostServiceTests : IDisposable
{
    private readonly TestFolder _folder = new();

    [Fact]
    public async Task A_bad_token_registers_nothing()
    {
        var error = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Hosts.RegisterAsync(
            new RegisterRequest("not-a-token", "pc-x", "Linux", "6", "X64", [], null, "1")));
        Assert.Equal("EnrollmentTokenInvalid", error.ErrorId);
        Assert.Empty(await _folder.Engine.Hosts.ListAsync());
    }

    private static RegisterRequest Request(string token, string name, string? kind = null) =>
        new(token, name, "Linux", "6.1", "X64", ["10.0.0.9"], null, "1.0", Kind: kind);

    [Fact]
    public async Task An_enrolled_name_is_not_taken_over_without_its_credential_and_registers_again_with_it()
    {
        var first = await _folder.RegisterHostAsync("pc-a");
        var token = (await _folder.Engine.Hosts.NewEnrollmentTokenAsync("second")).Token!;

        // Another agent with a valid token, the same name (any case), a guessed or someone else's credential: refused.
        foreach (var attempt in new[] { Request(token, "PC-A"), Request(token, "pc-a") with { HostId = first.HostId, Credential = "guess" } })
        {
            var error = await Assert.ThrowsAsync<DistException>(() => _folder.Engine.Hosts.RegisterAsync(attempt));
            Assert.Equal("HostNameTaken", error.ErrorId);
        }
        Assert.Equal(first.HostId, await _folder.Engine.Hosts.AuthenticateAsync(first.HostId, first.Credential));
        var unchanged = Assert.Single(await _folder.Engine.Hosts.ListAsync());
        Assert.Equal("pc-a", unchanged.Name);
        Assert.Equal(["10.0.0.1"], unchanged.Addresses);
        Assert.Equal(0, (await _folder.Engine.Hosts.ListEnrollmentTokensAsync())[0].UseCount); // a refused registration uses nothing

        // The agent that holds the credential registers again (it moved, or its higher system forgot it): same host,
        // new facts, a fresh credential, and the old one is refused from then on.
        var again = await _folder.Engine.Hosts.RegisterAsync(Request(token, "PC-A") with { HostId = first.HostId, Credential = first.Credential });
        Assert.Equal(first.HostId, again.HostId);
        Assert.Null(await _folder.Engine.Hosts.AuthenticateAsync(first.HostId, first.Credential));
        Assert.Equal(first.HostId, await _folder.Engine.Hosts.AuthenticateAsync(again.HostId, again.Credential));
        var moved = Assert.Single(await _folder.Engine.Hosts.ListAsync());
        Assert.Equal("PC-A", moved.Name);
        Assert.Equal(["10.0.0.9"], moved.Addresses);
    }

    [Fact]
    public async Task A_registration_asked_again_with_the_credential_it_chose_is_answered_as_the_host_it_became()
    {
        var hosts = _folder.Engine.Hosts;
        var once = (await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("one use", MaxUses: 1))).Token!;
        var chosen = Secrets.NewSecret();
        var first = await hosts.RegisterAsync(Request(once, "pc-c") with { ChosenCredential = chosen });
        Assert.Equal(chosen, first.Credential);

        // The first answer was lost: the same registration again, even with the token used up, is the same host, unchanged.
        var again = await hosts.RegisterAsync(Request(once, "PC-C") with { ChosenCredential = chosen });
        Assert.Equal((first.HostId, chosen), (again.HostId, again.Credential));
        Assert.Equal(first.HostId, await hosts.AuthenticateAsync(first.HostId, chosen));
        Assert.Equal("pc-c", Assert.Single(await hosts.ListAsync()).Name);
        Assert.Equal(1, (await hosts.ListEnrollmentTokensAsync()).Single().UseCount);

        // Another credential chosen for the same name proves nothing: the name stays its credential's.
        var other = (await hosts.NewEnrollmentTokenAsync("other")).Token!;
        Assert.Equal("HostNameTaken", (await Assert.ThrowsAsync<DistException>(() => hosts.RegisterAsync(Request(other, "pc-c") with { ChosenCredential = Secrets.NewSecret() }))).ErrorId);
        Assert.Equal(first.HostId, await hosts.AuthenticateAsync(first.HostId, chosen));
    }

    [Fact]
    public async Task A_repeat_that_reaches_the_manager_itself_leaves_the_host_below_the_relay_it_registered_through()
    {
        var hosts = _folder.Engine.Hosts;
        var relay = await hosts.RegisterAsync(Request((await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relays", Relay: true))).Token!, "relay-1", "Relay")
            with { RelayUrl = "http://relay-1:22401" });
        var token = (await hosts.NewEnrollmentTokenAsync("clients")).Token!;
        var chosen = Secrets.NewSecret();
        var below = await hosts.RegisterAsync(Request(token, "pc-r") with { ChosenCredential = chosen }, relay.HostId);

        // The relay kept the host from the answer, which never reached the agent; the agent asks again at the manager, which
        // stands in for the relay. The host stays below the relay, which knows it and passes its reports up.
        var again = await hosts.RegisterAsync(Request(token, "pc-r") with { ChosenCredential = chosen });
        Assert.Equal((below.HostId, chosen), (again.HostId, again.Credential));
        Assert.Equal("relay-1", (await hosts.ListAsync("pc-r")).Single().HigherSystem);
    }

    [Fact]
    public async Task A_token_admits_until_it_expires_or_is_used_up_and_not_once_removed()
    {
        var hosts = _folder.Engine.Hosts;
        var twice = await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("two", MaxUses: 2));
        await hosts.RegisterAsync(Request(twice.Token!, "pc-1"));
        await hosts.RegisterAsync(Request(twice.Token!, "pc-2"));
        Assert.Equal("EnrollmentTokenUsedUp", (await Assert.ThrowsAsync<DistException>(() => hosts.RegisterAsync(Request(twice.Token!, "pc-3")))).ErrorId);

        var brief = await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("brief", ExpiresIn: TimeSpan.FromMilliseconds(1)));
        await Task.Delay(20);
        Assert.Equal("EnrollmentTokenExpired", (await Assert.ThrowsAsync<DistException>(() => hosts.RegisterAsync(Request(brief.Token!, "pc-3")))).ErrorId);

        var removed = await hosts.NewEnrollmentTokenAsync("removed");
        await hosts.RemoveEnrollmentTokenAsync(removed.Id);
        Assert.Equal("EnrollmentTokenInvalid", (await Assert.ThrowsAsync<DistException>(() => hosts.RegisterAsync(Request(removed.Token!, "pc-3")))).ErrorId);
        Assert.Equal("EnrollmentTokenNotFound", (await Assert.ThrowsAsync<DistException>(() => hosts.RemoveEnrollmentTokenAsync(removed.Id))).ErrorId);
        Assert.Equal(["pc-1", "pc-2"], (await hosts.ListAsync()).Select(h => h.Name));

        var listed = await hosts.ListEnrollmentTokensAsync();
        Assert.Equal([("brief", "Expired", 0), ("two", "UsedUp", 2)], listed.Select(t => (t.Description!, t.Status, t.UseCount)));
        Assert.All(listed, t => Assert.Null(t.Token)); // the secret is shown once, at creation

        Assert.Equal("EnrollmentTokenMaxUsesInvalid", (await Assert.ThrowsAsync<DistException>(() => hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest(MaxUses: 0)))).ErrorId);
        Assert.Equal("EnrollmentTokenExpiryInvalid", (await Assert.ThrowsAsync<DistException>(() => hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest(ExpiresIn: TimeSpan.Zero)))).ErrorId);
    }

    [Fact]
    public async Task Relays_register_only_with_a_relay_token_and_a_relay_token_registers_nothing_else()
    {
        var hosts = _folder.Engine.Hosts;
        var clients = (await hosts.NewEnrollmentTokenAsync("clients")).Token!;
        var relays = (await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relays", Relay: true))).Token!;
        Assert.Equal("EnrollmentTokenNotForRelays", (await Assert.ThrowsAsync<DistException>(() => hosts.RegisterAsync(Request(clients, "relay-1", "Relay")))).ErrorId);
        Assert.Equal("EnrollmentTokenForRelays", (await Assert.ThrowsAsync<DistException>(() => hosts.RegisterAsync(Request(relays, "pc-1")))).ErrorId);
        Assert.Empty(await hosts.ListAsync());
        await hosts.RegisterAsync(Request(relays, "relay-1", "Relay"));
        Assert.Equal(HostKind.Relay, (await hosts.ListAsync()).Single().Kind);
    }

    [Fact]
    public async Task A_token_carries_the_signing_keys_fingerprint()
    {
        var text = EnrollmentTokenText.TryParse((await _folder.Engine.Hosts.NewEnrollmentTokenAsync("t")).Token)!;
        Assert.Equal(JP1Dist.Protocol.Signing.Fingerprints.OfPublicKey(_folder.Engine.Signer.PublicKey), text.SigningKeyFingerprint);
        Assert.Null(text.CertificatePin); // no HTTPS manager has run on this data folder
    }

    [Fact]
    public async Task Registrations_at_once_are_each_decided_as_alone_and_a_refused_one_counts_no_use()
    {
        var hosts = _folder.Engine.Hosts;
        var relay = await hosts.RegisterAsync(Request((await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("relays", Relay: true))).Token!, "relay-1", "Relay")
            with { RelayUrl = "http://relay-1:22401" });
        var client = await _folder.RegisterHostAsync("pc-client");
        var token = (await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("three", MaxUses: 3))).Token!;
        var other = (await hosts.NewEnrollmentTokenAsync("other")).Token!;

        // Refused after their token's use was counted (a parent that is no relay, a name enrolled already), refused before
        // it (used up), and admitted: all queued together. The refused ones count no use.
        var registrations = new (RegisterRequest Request, Guid? Parent)[]
        {
            (Request(other, "pc-under-client"), client.HostId),
            (Request(other, "PC-CLIENT"), null),
            (Request(token, "pc-1"), relay.HostId),
            (Request(token, "pc-2"), null),
            (Request(token, "pc-3"), null),
            (Request(token, "pc-4"), null),
        };
        var outcomes = await Task.WhenAll(registrations.Select(r => Task.Run(async () =>
        {
            try
            {
                return (Answer: await hosts.RegisterAsync(r.Request, r.Parent), ErrorId: (string?)null);
            }
            catch (DistException e)
            {
                return (Answer: (RegisterResponse?)null, e.ErrorId);
            }
        })));

        Assert.Equal(["HigherSystemInvalid", "HostNameTaken"], outcomes.Take(2).Select(o => o.ErrorId));
        var rest = outcomes.Skip(2).ToList();
        Assert.Equal(3, rest.Count(o => o.Answer is not null));
        Assert.Equal("EnrollmentTokenUsedUp", Assert.Single(rest, o => o.Answer is null).ErrorId);
        Assert.Equal(3, (await hosts.ListEnrollmentTokensAsync()).Single(t => t.Description == "three").UseCount);
        Assert.Equal(0, (await hosts.ListEnrollmentTokensAsync()).Single(t => t.Description == "other").UseCount);
        Assert.Equal(5, (await hosts.ListAsync()).Count);
        Assert.Equal(client.HostId, await hosts.AuthenticateAsync(client.HostId, client.Credential));
        if (outcomes[2].Answer is { } below)
        {
            Assert.Equal("relay-1", (await hosts.ListAsync("pc-1")).Single().HigherSystem);
            Assert.Equal(below.HostId, await hosts.AuthenticateAsync(below.HostId, below.Credential));
        }
    }

    [Fact]
    public async Task A_registration_tells_its_node_whether_the_host_has_queued_work_and_whether_a_pending_one_replaces_an_enrolled_host()
    {
        var hosts = _folder.Engine.Hosts;
        await _folder.Engine.IdGroups.CreateAsync("Ins", null);
        await _folder.Engine.IdGroups.SetPolicyAsync("Ins", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["pc-in*"] }]);
        await _folder.RegisterHostAsync("pc-in0");
        _folder.WriteFile("pkg/setup.sh", "exit 0");
        await _folder.Engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(_folder.Root, "pkg"), "setup.sh"));
        await _folder.Engine.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", null, ["Ins"], DestinationType: DestinationType.IdGroup));
        await _folder.Engine.Jobs.StartAsync("Deploy");
        var token = (await hosts.NewEnrollmentTokenAsync("clients")).Token!;

        // A new host that joins no ID group has nothing queued; one that joins the group of an executed job has its target queued.
        var outside = await hosts.RegisterForNodeAsync(Request(token, "pc-out"));
        Assert.False(outside.QueuedWork);
        var inside = await hosts.RegisterForNodeAsync(Request(token, "pc-in1"));
        Assert.True(inside.QueuedWork);
        Assert.False(inside.Response.Pending);

        // Enrolled hosts registering again: the queued target is found in the database, and none where there is none.
        var again = await hosts.RegisterForNodeAsync(Request(token, "pc-in1") with { HostId = inside.Response.HostId, Credential = inside.Response.Credential });
        Assert.Equal(inside.Response.HostId, again.Response.HostId);
        Assert.True(again.QueuedWork);
        Assert.False((await hosts.RegisterForNodeAsync(Request(token, "pc-out") with { HostId = outside.Response.HostId, Credential = outside.Response.Credential })).QueuedWork);

        // Waiting for approval: nothing queued; a replacement of an enrolled name says so, also when asked again with the credential it chose.
        var approval = (await hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("approval", RequireApproval: true))).Token!;
        var newcomer = await hosts.RegisterForNodeAsync(Request(approval, "pc-in2"));
        Assert.Equal((true, false, false), (newcomer.Response.Pending, newcomer.QueuedWork, newcomer.ReplacesEnrolled));
        var chosen = Secrets.NewSecret();
        var replacement = await hosts.RegisterForNodeAsync(Request(approval, "PC-OUT") with { ChosenCredential = chosen });
        Assert.Equal((true, false, true), (replacement.Response.Pending, replacement.QueuedWork, replacement.ReplacesEnrolled));
        Assert.Equal(outside.Response.HostId, replacement.Response.HostId);
        var repeated = await hosts.RegisterForNodeAsync(Request(approval, "pc-out") with { ChosenCredential = chosen });
        Assert.Equal((replacement.Response.HostId, true, true), (repeated.Response.HostId, repeated.Response.Pending, repeated.ReplacesEnrolled));
    }

    public void Dispose() => _folder.Dispose();
}
