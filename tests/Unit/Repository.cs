namespace JP1Dist.Tests;

/// <summary>The repository the tests run from: the folder above the test assembly that holds JP1Dist.sln.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "JP1Dist.sln")))
            {
                return folder.FullName;
            }
        }
        throw new InvalidOperationException($"No folder above '{AppContext.BaseDirectory}' holds JP1Dist.sln.");
    }
}
