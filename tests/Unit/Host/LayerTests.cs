using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Xunit;

namespace JP1Dist.Tests.Host;

/// <summary>
/// The rules the assemblies stand for, read from the built assemblies' metadata: the protocol depends on no runtime,
/// the agent not on the manager's storage, the engine on no server, and the module on neither server nor agent, with
/// the cmdlets reaching the engine through the contracts alone.
/// </summary>
public sealed class LayerTests
{
    private static readonly string FrameworkFolder = Path.GetDirectoryName(typeof(object).Assembly.Location)!;

    public static TheoryData<string, string[]> Allowed => new()
    {
        // Assembly, and what it may reference besides the .NET runtime itself.
        { "JP1Dist.Protocol", [] },
        { "JP1Dist.Contracts", ["JP1Dist.Protocol"] },
        { "JP1Dist.Core", ["JP1Dist.Protocol", "JP1Dist.Contracts", "Microsoft.EntityFrameworkCore*", "Microsoft.Data.Sqlite", "SQLitePCLRaw*", "Npgsql*", "Microsoft.Extensions.*Abstractions"] },
        { "JP1Dist.Client", ["JP1Dist.Protocol", "JP1Dist.Contracts"] },
        { "JP1Dist.Agent", ["JP1Dist.Protocol", "Microsoft.Extensions.Hosting.Abstractions", "Microsoft.Extensions.Logging.Abstractions"] },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void Each_layer_references_only_the_layers_below_it(string assembly, string[] allowed)
    {
        var path = Path.Combine(AppContext.BaseDirectory, assembly + ".dll");
        var outside = References(path).Where(name => !IsFramework(name) && !allowed.Any(pattern => Matches(pattern, name))).ToList();
        Assert.True(outside.Count == 0, $"{assembly} references {string.Join(", ", outside)}.");
    }

    [Fact]
    public void The_module_references_neither_the_server_nor_the_agent_and_names_one_engine_entry_point()
    {
        var module = Path.Combine(Repository.Root, "out", "JP1Dist", "JP1Dist.PowerShell.dll");
        var references = References(module);
        Assert.DoesNotContain("JP1Dist.Server", references);
        Assert.DoesNotContain("JP1Dist.Agent", references);

        // The one engine type the module names at all: the entry point that opens the engine on a data folder.
        // Everything else goes through the contracts.
        Assert.Equal(["JP1Dist.Core.DistEngine"], TypesReferencedFrom(module, "JP1Dist.Core"));

        // And only the session file can name them: the engine's assembly is referenced under an alias.
        var aliased = Directory.GetFiles(Path.Combine(Repository.Root, "src", "PSModule"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && File.ReadAllText(f).Contains("extern alias Core", StringComparison.Ordinal))
            .Select(Path.GetFileName).ToList();
        Assert.Equal(["DistSession.cs"], aliased);
    }

    private static bool IsFramework(string name) =>
        name is "netstandard" or "mscorlib" || File.Exists(Path.Combine(FrameworkFolder, name + ".dll"));

    private static bool Matches(string pattern, string name) => pattern.EndsWith('*')
        ? name.StartsWith(pattern[..^1], StringComparison.Ordinal)
        : pattern.Contains('*', StringComparison.Ordinal)
            ? name.StartsWith(pattern[..pattern.IndexOf('*', StringComparison.Ordinal)], StringComparison.Ordinal) && name.EndsWith(pattern[(pattern.IndexOf('*', StringComparison.Ordinal) + 1)..], StringComparison.Ordinal)
            : name == pattern;

    private static List<string> References(string path)
    {
        using var pe = new PEReader(File.OpenRead(path));
        var metadata = pe.GetMetadataReader();
        return metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name)).ToList();
    }

    private static List<string> TypesReferencedFrom(string path, string assembly)
    {
        using var pe = new PEReader(File.OpenRead(path));
        var metadata = pe.GetMetadataReader();
        var types = new List<string>();
        foreach (var handle in metadata.TypeReferences)
        {
            var type = metadata.GetTypeReference(handle);
            if (type.ResolutionScope.Kind == HandleKind.AssemblyReference
                && metadata.GetString(metadata.GetAssemblyReference((AssemblyReferenceHandle)type.ResolutionScope).Name) == assembly)
            {
                types.Add($"{metadata.GetString(type.Namespace)}.{metadata.GetString(type.Name)}");
            }
        }
        return types.Order(StringComparer.Ordinal).ToList();
    }
}
