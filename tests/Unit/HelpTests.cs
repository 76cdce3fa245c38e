using System.Globalization;
using System.Text.RegularExpressions;
using JP1Dist.HelpBuilder;
using Xunit;

namespace JP1Dist.Tests;

/// <summary>
/// Keeps the cmdlet help true to the code: docs/cmdlets holds a file for every cmdlet in src/PSModule/Cmdlets,
/// each parameter is documented as the code declares it, and the committed MAML is what the markdown generates.
/// </summary>
public sealed partial class HelpTests
{
    private const string HelpFile = "src/PSModule/en-US/JP1Dist.PowerShell.dll-Help.xml";
    private const string Regenerate = "dotnet run --project src/HelpBuilder -- docs/cmdlets " + HelpFile;

    private static readonly string Root = Repository.Root;
    private static readonly string DocsFolder = Path.Combine(Root, "docs", "cmdlets");

    [Fact]
    public void CommittedMamlMatchesTheMarkdown()
    {
        var generated = HelpConverter.ConvertFolder(DocsFolder);
        var committed = File.ReadAllText(Path.Combine(Root, HelpFile));
        Assert.True(Normalize(committed) == Normalize(generated),
            $"{HelpFile} is out of date with docs/cmdlets; regenerate it: {Regenerate}");
    }

    [Fact]
    public void EveryCmdletHasHelp()
    {
        var cmdlets = SourceCmdlets().Select(c => c.Name).ToList();
        Assert.NotEmpty(cmdlets);
        var documented = HelpConverter.ReadFolder(DocsFolder).Select(h => h.Name).ToList();
        Assert.Empty(cmdlets.Except(documented, StringComparer.Ordinal));
        Assert.Empty(documented.Except(cmdlets, StringComparer.Ordinal)); // no help for a cmdlet that is gone
    }

    [Fact]
    public void EveryCmdletIsListedInTheReadme()
    {
        var readme = File.ReadAllText(Path.Combine(DocsFolder, "README.md"));
        Assert.All(SourceCmdlets(), c => Assert.Contains($"[{c.Name}]({c.Name}.md)", readme, StringComparison.Ordinal));
    }

    public static TheoryData<string> CmdletNames()
    {
        var data = new TheoryData<string>();
        foreach (var cmdlet in SourceCmdlets())
        {
            data.Add(cmdlet.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void HelpHasTheRequiredContent(string name)
    {
        var help = ReadHelp(name);
        Assert.True(help.Examples.Count >= 2, $"{name}: at least two examples are needed, found {help.Examples.Count}.");
        Assert.All(help.Examples, e => Assert.False(string.IsNullOrWhiteSpace(e.Code), $"{name}: example '{e.Title}' has no code."));
        Assert.All(help.Examples, e => Assert.NotEmpty(e.Remarks));
        Assert.NotEmpty(help.Synopsis);
        Assert.NotEmpty(help.Description);
        Assert.NotEmpty(help.Inputs);
        Assert.NotEmpty(help.Outputs);
        Assert.NotEmpty(help.Notes);
        Assert.NotEmpty(help.Links);
        Assert.Equal("JP1Dist.PowerShell.dll-Help.xml", help.Metadata.GetValueOrDefault("external help file"));
        Assert.Equal("JP1Dist", help.Metadata.GetValueOrDefault("Module Name"));
        Assert.NotEmpty(help.Syntax);
        Assert.All(help.Syntax, syntax => Assert.StartsWith(name + " ", syntax, StringComparison.Ordinal));
        // Every parameter appears in some parameter set's syntax.
        Assert.All(help.Parameters, p => Assert.Contains(help.Syntax,
            syntax => syntax.Replace("]", " ", StringComparison.Ordinal).Contains($"-{p.Name} ", StringComparison.Ordinal)));
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void EveryParameterIsDocumentedAsDeclared(string name)
    {
        var cmdlet = SourceCmdlets().Single(c => c.Name == name);
        var help = ReadHelp(name);
        var documented = help.Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var expected = cmdlet.Parameters.ToList();
        if (cmdlet.SupportsShouldProcess)
        {
            expected.Add(new SourceParameter("Confirm", "SwitchParameter", false, "Named", "False", false, ["cf"]));
            expected.Add(new SourceParameter("WhatIf", "SwitchParameter", false, "Named", "False", false, ["wi"]));
        }
        Assert.Empty(expected.Select(p => p.Name).Except(documented.Keys, StringComparer.Ordinal));
        Assert.Empty(documented.Keys.Except(expected.Select(p => p.Name), StringComparer.Ordinal));
        foreach (var source in expected)
        {
            var doc = documented[source.Name];
            var where = $"{name} -{source.Name}";
            Assert.True(source.Type == doc.Type, $"{where}: Type is {source.Type} in the code, {doc.Type} in the help.");
            Assert.True(source.Required == doc.Required, $"{where}: Required is {source.Required} in the code.");
            Assert.True(source.Position == doc.Position, $"{where}: Position is {source.Position} in the code, {doc.Position} in the help.");
            Assert.True(source.PipelineInput == doc.PipelineInput, $"{where}: pipeline input is '{source.PipelineInput}' in the code, '{doc.PipelineInput}' in the help.");
            Assert.True(source.Globbing == doc.Globbing, $"{where}: wildcards are {source.Globbing} in the code ([SupportsWildcards]).");
            Assert.True(source.Aliases.SequenceEqual(doc.Aliases), $"{where}: aliases are '{string.Join(", ", source.Aliases)}' in the code, '{string.Join(", ", doc.Aliases)}' in the help.");
            Assert.NotEmpty(doc.Description);
        }
    }

    private static CommandHelp ReadHelp(string name)
    {
        var path = Path.Combine(DocsFolder, name + ".md");
        Assert.True(File.Exists(path), $"docs/cmdlets/{name}.md is missing.");
        return MarkdownHelpReader.Parse(File.ReadAllText(path), name + ".md");
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd();

    // ---- The cmdlets as the source declares them ----

    private sealed record SourceCmdlet(string Name, bool SupportsShouldProcess, IReadOnlyList<SourceParameter> Parameters);

    private sealed record SourceParameter(string Name, string Type, bool Required, string Position, string PipelineInput, bool Globbing, IReadOnlyList<string> Aliases);

    /// <summary>Every class with a [Cmdlet(...)] attribute in src/PSModule/Cmdlets, read from the source text.</summary>
    private static List<SourceCmdlet> SourceCmdlets()
    {
        var cmdlets = new List<SourceCmdlet>();
        foreach (var file in Directory.GetFiles(Path.Combine(Root, "src", "PSModule", "Cmdlets"), "*.cs").Order(StringComparer.Ordinal))
        {
            var text = File.ReadAllText(file);
            var cmdlet = CmdletPattern().Match(text);
            if (!cmdlet.Success)
            {
                continue;
            }
            var verb = cmdlet.Groups["verb"].Value;
            var arguments = cmdlet.Groups["args"].Value;
            var parameters = DeclaredParameters(text, Path.GetDirectoryName(file)!);
            cmdlets.Add(new SourceCmdlet($"{verb}-{cmdlet.Groups["noun"].Value}",
                SupportsShouldProcessPattern().IsMatch(arguments), parameters));
        }
        return cmdlets;
    }

    /// <summary>The parameters a cmdlet class declares, and those of the base classes in the same folder it derives from.</summary>
    private static List<SourceParameter> DeclaredParameters(string text, string folder)
    {
        var parameters = PropertyPattern().Matches(text)
            .Where(m => ParameterAttributePattern().IsMatch(m.Groups["attrs"].Value))
            .Select(ToParameter)
            .ToList();
        var baseClass = BaseClassPattern().Match(text);
        var baseFile = Path.Combine(folder, baseClass.Groups["base"].Value + ".cs");
        if (baseClass.Success && File.Exists(baseFile))
        {
            parameters.AddRange(DeclaredParameters(File.ReadAllText(baseFile), folder));
        }
        return parameters;
    }

    private static SourceParameter ToParameter(Match property)
    {
        var attributes = property.Groups["attrs"].Value;
        var parameter = ParameterAttributePattern().Match(attributes).Groups["args"].Value;
        bool Flag(string name) => Regex.IsMatch(parameter, $@"\b{name}\s*=\s*true\b");
        var position = Regex.Match(parameter, @"\bPosition\s*=\s*(\d+)");
        var byValue = Flag("ValueFromPipeline");
        var byName = Flag("ValueFromPipelineByPropertyName");
        var pipeline = (byValue, byName) switch
        {
            (true, true) => "True (ByValue, ByPropertyName)",
            (true, false) => "True (ByValue)",
            (false, true) => "True (ByPropertyName)",
            _ => "False",
        };
        var alias = AliasPattern().Match(attributes);
        var aliases = alias.Success
            ? Regex.Matches(alias.Groups["args"].Value, "\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList()
            : [];
        return new SourceParameter(
            property.Groups["name"].Value,
            HelpTypeName(property.Groups["type"].Value),
            Flag("Mandatory"),
            position.Success ? int.Parse(position.Groups[1].Value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture) : "Named",
            pipeline,
            attributes.Contains("[SupportsWildcards]", StringComparison.Ordinal),
            aliases);
    }

    /// <summary>The type name platyPS writes for a C# property type: string[] is String[], int? is Int32.</summary>
    private static string HelpTypeName(string csharp)
    {
        var array = csharp.TrimEnd('?').EndsWith("[]", StringComparison.Ordinal);
        var element = csharp.TrimEnd('?');
        element = array ? element[..^2] : element;
        element = element.TrimEnd('?');
        var name = element switch
        {
            "string" => "String",
            "int" => "Int32",
            "long" => "Int64",
            "bool" => "Boolean",
            "double" => "Double",
            "object" => "Object",
            _ => element,
        };
        return array ? name + "[]" : name;
    }

    [GeneratedRegex(@"\[Cmdlet\(\s*Verbs\w+\.(?<verb>\w+)\s*,\s*""(?<noun>\w+)""(?<args>[^\]]*)\)\]")]
    private static partial Regex CmdletPattern();

    [GeneratedRegex(@"\bclass\s+\w+\s*:\s*(?<base>\w+)")]
    private static partial Regex BaseClassPattern();

    [GeneratedRegex(@"\bSupportsShouldProcess\s*=\s*true\b")]
    private static partial Regex SupportsShouldProcessPattern();

    [GeneratedRegex(@"(?<attrs>(?:[ \t]*\[[^\]\r\n]*\][ \t]*\r?\n)+)[ \t]*public\s+(?<type>[\w.<>\[\]?]+)\s+(?<name>\w+)\s*\{\s*get;\s*set;\s*\}")]
    private static partial Regex PropertyPattern();

    [GeneratedRegex(@"\[Parameter(?:\((?<args>[^\]]*)\))?\]")]
    private static partial Regex ParameterAttributePattern();

    [GeneratedRegex(@"\[Alias\((?<args>[^\]]*)\)\]")]
    private static partial Regex AliasPattern();
}
