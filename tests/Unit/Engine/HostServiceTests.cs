using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
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

    [Fact]
    public async Task Re_registering_a_name_keeps_the_host_and_replaces_the_credential()
    {
        var first = await _folder.RegisterHostAsync("pc-a");
        var second = await _folder.RegisterHostAsync("PC-A");
        Assert.Equal(first.HostId, second.HostId);
        Assert.Null(await _folder.Engine.Hosts.AuthenticateAsync(first.HostId, first.Credential));
        Assert.Equal(first.HostId, await _folder.Engine.Hosts.AuthenticateAsync(second.HostId, second.Credential));
        var host = Assert.Single(await _folder.Engine.Hosts.ListAsync());
        Assert.Equal("PC-A", host.Name);
        Assert.Equal(["10.0.0.1"], host.Addresses);
    }

    public void Dispose() => _folder.Dispose();
}
