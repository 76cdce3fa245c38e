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
        foreach (var file in new[] { "JP1Dist.psd1", "JP1Dist.PowerShell.dll", "JP1Dist.PowerShell.Loader.dll", "JP1Dist.Format.ps1xml", "JP1Dist.Types.ps1xml", Path.Combine("en-US", "JP1Dist.PowerShell.dll-Help.xml") })
        {
            Assert.True(File.Exists(Path.Combine(Module, file)), $"out/JP1Dist/{file} is missing.");
        }
        Assert.True(File.Exists(Path.Combine(Module, "Dependencies", "JP1Dist.Engine.dll")));
        Assert.Empty(Directory.GetFiles(Module, "System.Management.Automation.dll", SearchOption.AllDirectories));
        var native = Directory.GetFiles(Path.Combine(Module, "Dependencies", "runtimes"), "*e_sqlite3*", SearchOption.AllDirectories);
        Assert.Contains(native, path => path.Contains(Path.Combine("linux-x64", "native"), StringComparison.Ordinal));
        Assert.Contains(native, path => path.Contains(Path.Combine("win-x64", "native"), StringComparison.Ordinal));
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
