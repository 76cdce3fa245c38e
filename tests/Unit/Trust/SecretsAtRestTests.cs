using JP1Dist.Agent;
using JP1Dist.Protocol.Security;
using JP1Dist.Server.Relay;
using JP1Dist.Tests.Engine;
using Xunit;

namespace JP1Dist.Tests.Trust;

/// <summary>
/// Files that hold a credential are the owner's alone from their creation (no moment when another user could open them),
/// and such files left wider by an earlier version are narrowed at start; token sources are read in their documented order.
/// </summary>
public sealed class SecretsAtRestTests : IDisposable
{
    private const UnixFileMode Wide = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private readonly TestFolder _folder = new();

    [Fact]
    public void The_agent_credential_file_is_owner_only_and_an_older_wider_one_is_narrowed_at_start()
    {
        var store = new AgentStateStore(Path.Combine(_folder.Root, "agent"));
        store.SaveIdentity(new AgentIdentity(new Uri("https://m:1"), "pc", Guid.NewGuid(), "credential", "key", new string('a', 64)));
        Assert.True(TlsTests.OwnerOnly(store.IdentityPath));
        Assert.Equal(new string('a', 64), store.LoadIdentity()!.CertificatePin);
        Assert.DoesNotContain(Directory.GetFiles(store.Folder), f => f.EndsWith(".tmp", StringComparison.Ordinal));
        if (OperatingSystem.IsWindows())
        {
            return; // the access list is checked by Windows itself; these modes are Unix's
        }

        File.SetUnixFileMode(store.IdentityPath, Wide);
        _ = new AgentStateStore(store.Folder);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.IdentityPath));
    }

    [Fact]
    public void An_identity_from_before_pins_loads_without_one()
    {
        var store = new AgentStateStore(Path.Combine(_folder.Root, "old-agent"));
        File.WriteAllText(store.IdentityPath, """{"managerUrl":"http://127.0.0.1:22400/","name":"pc","hostId":"6f1c1c5e-7a36-4a36-9a33-2b8f3d6c0b11","credential":"c","manifestPublicKey":"k"}""");
        var identity = store.LoadIdentity();
        Assert.NotNull(identity);
        Assert.Null(identity.CertificatePin);
    }

    [Fact]
    public void The_relay_store_of_credential_hashes_is_owner_only_with_its_journal()
    {
        var path = Path.Combine(_folder.Root, "relay", "relay.db");
        using (var store = new RelayStore(path))
        {
            foreach (var file in new[] { path, path + "-wal", path + "-shm" }.Where(File.Exists))
            {
                Assert.True(TlsTests.OwnerOnly(file), file);
            }
        }
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.SetUnixFileMode(path, Wide);
        using (new RelayStore(path))
        {
            Assert.True(TlsTests.OwnerOnly(path), "an existing store is narrowed at start");
        }
    }

    [Fact]
    public void A_new_owner_only_file_never_replaces_one_written_first()
    {
        var path = Path.Combine(_folder.Root, "key.pem");
        Assert.True(OwnerOnlyFiles.WriteText(path, "first", overwrite: false));
        Assert.False(OwnerOnlyFiles.WriteText(path, "second", overwrite: false));
        Assert.Equal("first", File.ReadAllText(path));
        Assert.True(OwnerOnlyFiles.WriteText(path, "third", overwrite: true));
        Assert.Equal("third", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_folder.Root, "key.pem*"));
    }

    [Fact]
    public void The_token_comes_from_the_option_then_the_file_then_the_environment()
    {
        var file = _folder.WriteFile("token.txt", "from-file\n");
        var environment = new Dictionary<string, string?> { [TokenSource.Variable] = "from-env" };
        string? Env(string name) => environment.GetValueOrDefault(name);

        Assert.Equal("from-option", TokenSource.Resolve("from-option", file, Env, out var error));
        Assert.Null(error);
        Assert.Equal("from-file", TokenSource.Resolve(null, file, Env, out _));
        Assert.Equal("from-env", TokenSource.Resolve(null, null, Env, out _));
        Assert.Null(TokenSource.Resolve(null, null, _ => null, out error));
        Assert.Null(error);

        Assert.Null(TokenSource.Resolve(null, Path.Combine(_folder.Root, "missing.txt"), Env, out error));
        Assert.Contains("missing.txt", error, StringComparison.Ordinal);
        var bad = _folder.WriteFile("bad.txt", "not a token at all");
        Assert.Null(TokenSource.Resolve(null, bad, Env, out error));
        Assert.DoesNotContain("not a token at all", error, StringComparison.Ordinal); // a token's text is never echoed
    }

    public void Dispose() => _folder.Dispose();
}
