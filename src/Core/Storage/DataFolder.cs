namespace JP1Dist.Core.Storage;

/// <summary>
/// Where a manager's data lives: the database, the content store, the signing key and logs.
/// The embedded default is <c>$env:JP1DIST_HOME</c>, else the platform's per-user application-data folder.
/// </summary>
public sealed class DataFolder
{
    /// <summary>The environment variable that overrides the default data folder.</summary>
    public const string HomeVariable = "JP1DIST_HOME";

    public DataFolder(string root)
    {
        if (string.IsNullOrWhiteSpace(root))
        {
            throw new ArgumentException("The data folder path is empty.", nameof(root));
        }
        Root = Path.GetFullPath(root);
    }

    /// <summary>The absolute path of the folder.</summary>
    public string Root { get; }

    public string DatabasePath => Path.Combine(Root, "jp1dist.db");
    public string ContentPath => Path.Combine(Root, "content");
    public string KeysPath => Path.Combine(Root, "keys");
    public string LogsPath => Path.Combine(Root, "logs");

    /// <summary>Package uploads in progress (a session elsewhere sending files), each in a folder of its own until it becomes a package or expires.</summary>
    public string UploadsPath => Path.Combine(Root, "uploads");

    /// <summary>
    /// Lock files (never removed) that the processes sharing this folder take, manager nodes on a shared volume above all:
    /// uploads/ holds nothing but uploads, so its locks are here.
    /// </summary>
    public string LocksPath => Path.Combine(Root, "locks");

    /// <summary>The folder named by <paramref name="explicitPath"/>, else by JP1DIST_HOME, else the application-data default.</summary>
    public static DataFolder Resolve(string? explicitPath = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
        {
            return new DataFolder(explicitPath);
        }
        var fromEnvironment = Environment.GetEnvironmentVariable(HomeVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return new DataFolder(fromEnvironment);
        }
        var appData = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create);
        return new DataFolder(Path.Combine(appData, "JP1Dist"));
    }

    /// <summary>Creates the folder and its sub-folders if they are missing.</summary>
    public void EnsureCreated()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(ContentPath);
        Directory.CreateDirectory(KeysPath);
        Directory.CreateDirectory(LogsPath);
    }
}
