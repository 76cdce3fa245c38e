using System.Management.Automation.Language;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>The build leaves an importable module and scripts that parse; what a newcomer gets from `dotnet build`.</summary>
public sealed class ModuleLayoutTests
{
    private static readonly string Module = Path.Combine(Repository.Root, "out", "JP1Dist");

    [Fact]
    public void The_module_folder_has_the_manifest_views_help_and_dependencies_but_no_PowerShell_engine()
    {
        foreach (var file in new[] { "JP1Dist.psd1", "JP1Dist.PowerShell.dll", "JP1Dist.PowerShell.Loader.dll", "JP1Dist.Format.ps1xml", "JP1Dist.Types.ps1xml", Path.Combine("en-US", "JP1Dist.PowerShell.dll-Help.xml"), Path.Combine("en-US", "about_JP1Dist.help.txt") })
        {
            Assert.True(File.Exists(Path.Combine(Module, file)), $"out/JP1Dist/{file} is missing.");
        }
        foreach (var assembly in new[] { "JP1Dist.Contracts.dll", "JP1Dist.Protocol.dll", "JP1Dist.Core.dll" })
        {
            Assert.True(File.Exists(Path.Combine(Module, "Dependencies", assembly)), $"out/JP1Dist/Dependencies/{assembly} is missing.");
        }
        Assert.Empty(Directory.GetFiles(Module, "System.Management.Automation.dll", SearchOption.AllDirectories));
    }

    [Fact]
    public void The_module_ships_only_what_a_session_loads()
    {
        // What a session loads: our contracts, protocol and engine, and what the engine uses (EF Core on SQLite or
        // PostgreSQL through Npgsql, and the few Microsoft.Extensions libraries EF Core needs). Anything else added to the module's closure fails here:
        // a session never runs a server, an agent or a scheduler.
        string[] allowed = ["JP1Dist.PowerShell", "JP1Dist.PowerShell.Loader", "JP1Dist.Contracts", "JP1Dist.Protocol", "JP1Dist.Core", "JP1Dist.Client",
            "Microsoft.EntityFrameworkCore*", "Microsoft.Data.Sqlite", "SQLitePCLRaw.*", "Npgsql", "Npgsql.EntityFrameworkCore.PostgreSQL", "Microsoft.Extensions.Caching.*",
            "Microsoft.Extensions.Configuration.Abstractions", "Microsoft.Extensions.DependencyInjection*", "Microsoft.Extensions.DependencyModel",
            "Microsoft.Extensions.Logging", "Microsoft.Extensions.Logging.Abstractions", "Microsoft.Extensions.Options", "Microsoft.Extensions.Primitives"];
        var unexpected = Directory.GetFiles(Module, "*.dll", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}runtimes{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(Path.GetFileNameWithoutExtension)
            .Where(name => !allowed.Any(pattern => pattern.EndsWith('*') ? name!.StartsWith(pattern[..^1], StringComparison.Ordinal) : name == pattern))
            .ToList();
        Assert.True(unexpected.Count == 0, $"The module ships {string.Join(", ", unexpected)}.");

        // Native SQLite only for the supported platforms: Windows x64/arm64, Linux x64/arm64 (glibc), macOS arm64.
        var runtimes = Directory.GetDirectories(Path.Combine(Module, "Dependencies", "runtimes")).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["linux-arm64", "linux-x64", "osx-arm64", "win-arm64", "win-x64"], runtimes);
        foreach (var runtime in runtimes)
        {
            Assert.Single(Directory.GetFiles(Path.Combine(Module, "Dependencies", "runtimes", runtime!, "native"), "*e_sqlite3*"));
        }
    }

    [Theory]
    [InlineData("build.ps1")]
    [InlineData("examples/quickstart.ps1")]
    [InlineData("tests/Pester/TestSupport.ps1")]
    public void Scripts_parse_without_errors(string script)
    {
        Parser.ParseFile(Path.Combine(Repository.Root, script), out _, out var errors);
        Assert.True(errors.Length == 0, string.Join(Environment.NewLine, errors.Select(e => $"{e.Extent.StartLineNumber}: {e.Message}")));
    }
}
