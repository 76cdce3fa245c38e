using JP1Dist.Core;
using JP1Dist.Core.Storage;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A `jp1dist manager` process on a free 127.0.0.1 port (plain http: loopback only) on a scratch data folder, with the options
/// given, and the engine on the same folder; stopped and removed when disposed.
/// </summary>
public sealed class ManagerProcess : IAsyncDisposable
{
    private ManagerProcess(string root, DistEngine engine, NodeProcess node, string url)
    {
        Root = root;
        Engine = engine;
        Node = node;
        Url = url;
    }

    public string Root { get; }
    public string Home => Path.Combine(Root, "home");
    public DistEngine Engine { get; }
    public NodeProcess Node { get; }
    /// <summary>The URL the manager announced (its real port).</summary>
    public string Url { get; }

    /// <summary>
    /// Starts the manager; <paramref name="prepare"/> runs on the engine first (data the manager finds at its start);
    /// <paramref name="descriptorLimit"/>: its limit on open files (<see cref="NodeProcess.Start(int?, Dictionary{string, string?}?, string[])"/>).
    /// </summary>
    public static async Task<ManagerProcess> StartAsync(string[] options, Func<DistEngine, Task>? prepare = null, int? descriptorLimit = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "jp1dist-manager-" + Guid.NewGuid().ToString("N")[..8]);
        var home = Path.Combine(root, "home");
        var engine = TestDatabase.Engine(home);
        if (prepare is not null)
        {
            await prepare(engine);
        }
        var node = NodeProcess.Start(descriptorLimit, null, ["manager", "--listen", "http://127.0.0.1:0", "--home", home, .. options]);
        var url = await Eventually.ForAsync(async () => (await engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == node.Process.Id && m.IsAlive)?.Url,
            "the manager announces itself", node);
        return new ManagerProcess(root, engine, node, url);
    }

    public async ValueTask DisposeAsync()
    {
        await Node.StopAsync();
        Node.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
