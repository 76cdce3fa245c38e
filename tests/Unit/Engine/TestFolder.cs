using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;

namespace JP1Dist.Tests.Engine;

/// <summary>A scratch data folder with an engine on it, removed afterwards.</summary>
public sealed class TestFolder : IDisposable
{
    /// <param name="time">The engine's clock; the system's when not given.</param>
    public TestFolder(TimeProvider? time = null)
    {
        Root = Path.Combine(Path.GetTempPath(), "jp1dist-unit-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Root);
        Engine = TestDatabase.Engine(Path.Combine(Root, "home"), time);
    }

    public string Root { get; }
    public DistEngine Engine { get; }

    /// <summary>Writes a file under the scratch folder and returns its path.</summary>
    public string WriteFile(string relativePath, string content)
    {
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Registers a host through the engine as an agent would, with a fresh token.</summary>
    public async Task<RegisterResponse> RegisterHostAsync(string name)
    {
        var token = await Engine.Hosts.NewEnrollmentTokenAsync("test");
        return await Engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, name, "Linux", "6.1", "X64", ["10.0.0.1"], "00-11-22-33-44-55", "1.0"));
    }

    /// <summary>Registers a host with chosen facts and inventory.</summary>
    public async Task<RegisterResponse> RegisterHostAsync(string name, string os, string osVersion, string address,
        long memoryMB = 4096, params SoftwareFact[] software)
    {
        var token = await Engine.Hosts.NewEnrollmentTokenAsync("test");
        return await Engine.Hosts.RegisterAsync(new RegisterRequest(token.Token!, name, os, osVersion, "X64", [address], "00-11-22-33-44-55", "1.0",
            new HostInventory(4, memoryMB, [new VolumeFact("/", 100_000, 50_000)], ["00-11-22-33-44-55"], software)));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        TestDatabase.Release(Path.Combine(Root, "home"));
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
