using System.Text.Json;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Signing;
using JP1Dist.Tests.Agent;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>Signed settings expire, so a captured item cannot be replayed forever; work still waiting is signed again when served.</summary>
public sealed class SettingsRenewalTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task Settings_near_their_expiry_are_signed_again_when_served_and_still_bind_the_same_ticket()
    {
        using var agent = await _h.AgentAsync("pc-1", _h.Handler());
        await agent.RunOnceAsync(default); // registers
        var host = (await _h.Folder.Engine.Hosts.ListAsync("pc-1")).Single().Id;
        await _h.PackageAsync("App");
        await _h.ExecuteAsync(new NewJobRequest("J", "App", null, ["pc-1"]));

        var first = (await _h.Distribution.GetWorkAsync(host, default)).Single();
        var signed = JsonSerializer.Deserialize<JobSettings>(first.JobSettings!, ProtocolJson.Options)!;
        Assert.Equal(host, signed.HostId);
        Assert.True(signed.ExpiresAt > DateTime.UtcNow.AddDays(13));
        // Served again while fresh: the same signed settings, nothing rewritten.
        Assert.Equal(first.JobSettings, (await _h.Distribution.GetWorkAsync(host, default)).Single().JobSettings);

        // Days later, a day before they expire (the target waited, the host was away):
        using (var db = _h.Folder.Engine.Database.CreateContext())
        {
            await db.Targets.ExecuteUpdateAsync(s => s.SetProperty(t => t.SettingsExpiresAt, DateTime.UtcNow.AddDays(1)));
        }
        var renewed = (await _h.Distribution.GetWorkAsync(host, default)).Single();
        var settings = JsonSerializer.Deserialize<JobSettings>(renewed.JobSettings!, ProtocolJson.Options)!;
        Assert.True(settings.ExpiresAt > DateTime.UtcNow.AddDays(13));
        Assert.Equal(signed with { ExpiresAt = settings.ExpiresAt }, settings);
        Assert.True(SignedWork.Verify(renewed, _h.Folder.Engine.Signer.PublicKey, host, DateTime.UtcNow).Accepted);
        using (var db = _h.Folder.Engine.Database.CreateContext())
        {
            Assert.True((await db.Targets.SingleAsync()).SettingsExpiresAt > DateTime.UtcNow.AddDays(13));
        }
    }
}
