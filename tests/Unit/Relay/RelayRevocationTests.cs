using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Relay;

/// <summary>A relay learns revocations from its work snapshot, refuses them, and keeps refusing them from disk after a restart.</summary>
public sealed class RelayRevocationTests
{
    [Fact]
    public async Task A_revoked_credential_is_refused_by_the_relay_and_still_after_a_restart_without_the_manager()
    {
        await using var harness = await RelayHarness.StartAsync();
        var relay = await harness.StartRelayAsync("relay-1");
        using var agent = await harness.AgentAsync("pc-1", relay.Url);
        await agent.RunOnceAsync(CancellationToken.None);
        var identity = agent.Store.LoadIdentity()!;
        Assert.Equal((HttpStatusCode.OK, null), await PollAsync(relay.Url, identity));

        await harness.Folder.Engine.Hosts.RemoveAsync("pc-1", force: true, revoke: true);
        await RelayHarness.EventuallyAsync(async () => (await PollAsync(relay.Url, identity)).ErrorId == RevokedCredential.ErrorId, "the relay refuses it");
        Assert.Equal(HttpStatusCode.Unauthorized, (await PollAsync(relay.Url, identity)).Status);
        var stopped = await Assert.ThrowsAsync<CredentialRevokedException>(() => agent.RunOnceAsync(CancellationToken.None));
        Assert.Contains("'pc-1'", stopped.Message, StringComparison.Ordinal);
        Assert.Contains(agent.Store.Folder, stopped.Message, StringComparison.Ordinal);

        // Kept on disk: with the manager gone, the restarted relay cannot learn it again, and still refuses it.
        await harness.StopManagerAsync();
        await relay.StopAsync();
        await relay.StartAsync();
        Assert.Equal((HttpStatusCode.Unauthorized, RevokedCredential.ErrorId), await PollAsync(relay.Url, identity));
    }

    private static async Task<(HttpStatusCode Status, string? ErrorId)> PollAsync(string url, AgentIdentity identity)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, ApiPaths.Work + "?wait=0");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"{identity.HostId}.{identity.Credential}");
        using var response = await http.SendAsync(request);
        if (response.IsSuccessStatusCode)
        {
            return (response.StatusCode, null);
        }
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, problem.RootElement.TryGetProperty("errorId", out var id) ? id.GetString() : null);
    }
}
