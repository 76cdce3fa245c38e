using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace JP1Dist.HelpBuilder;

/// <summary>
/// Converts platyPS-style markdown help into the MAML that PowerShell's Get-Help reads
/// (the layout platyPS's New-ExternalHelp writes). The output is deterministic: the same markdown gives the same bytes.
/// </summary>
public static class HelpConverter
{
    /// <summary>The encoding of the written file: UTF-8 without a byte order mark.</summary>
    public static readonly Encoding Encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";
    private static readonly XNamespace MSHelp = "http://msdn.microsoft.com/mshelp";

    /// <summary>The full .NET names of the parameter types written with their short names in markdown.</summary>
    private static readonly Dictionary<string, string> FullTypeNames = new(StringComparer.Ordinal)
    {
        ["String"] = "System.String",
        ["Int32"] = "System.Int32",
        ["Int64"] = "System.Int64",
        ["Boolean"] = "System.Boolean",
        ["DateTime"] = "System.DateTime",
        ["TimeSpan"] = "System.TimeSpan",
        ["Object"] = "System.Object",
        ["SwitchParameter"] = "System.Management.Automation.SwitchParameter",
        ["PSObject"] = "System.Management.Automation.PSObject",
    };

    /// <summary>Reads every cmdlet file in <paramref name="folder"/> (all *.md but README.md), ordered by file name.</summary>
    public static IReadOnlyList<CommandHelp> ReadFolder(string folder)
    {
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"The markdown folder '{folder}' does not exist.");
        }
        var files = Directory.GetFiles(folder, "*.md")
            .Where(f => !string.Equals(Path.GetFileName(f), "README.md", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new FormatException($"The folder '{folder}' holds no cmdlet markdown files.");
        }
        var commands = new List<CommandHelp>();
        foreach (var file in files)
        {
            var command = MarkdownHelpReader.Parse(File.ReadAllText(file), Path.GetFileName(file));
            if (!string.Equals(command.Name + ".md", Path.GetFileName(file), StringComparison.Ordinal))
            {
                throw new FormatException($"{Path.GetFileName(file)}: the title '# {command.Name}' does not match the file name.");
            }
            commands.Add(command);
        }
        return commands;
    }

    /// <summary>The MAML text for every cmdlet file in <paramref name="folder"/>.</summary>
    public static string ConvertFolder(string folder) => ToText(ToMaml(ReadFolder(folder)));

    /// <summary>The MAML document for the commands, in the order given.</summary>
    public static XDocument ToMaml(IEnumerable<CommandHelp> commands) =>
        new(new XDeclaration("1.0", "utf-8", null),
            new XElement(Msh + "helpItems", new XAttribute("schema", "maml"), commands.Select(ToCommand)));

    /// <summary>The document as text: two-space indents, LF line ends, a final line end.</summary>
    public static string ToText(XDocument document)
    {
        var settings = new XmlWriterSettings
        {
            Encoding = Encoding,
            Indent = true,
            IndentChars = "  ",
            NewLineChars = "\n",
            NewLineHandling = NewLineHandling.Replace,
        };
        using var stream = new MemoryStream();
        using (var writer = XmlWriter.Create(stream, settings))
        {
            document.Save(writer);
        }
        return Encoding.GetString(stream.ToArray()) + "\n";
    }

    private static XElement ToCommand(CommandHelp help) =>
        new(Command + "command",
            new XAttribute(XNamespace.Xmlns + "maml", Maml),
            new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev),
            new XAttribute(XNamespace.Xmlns + "MSHelp", MSHelp),
            new XElement(Command + "details",
                new XElement(Command + "name", help.Name),
                new XElement(Command + "verb", help.Verb),
                new XElement(Command + "noun", help.Noun),
                Description(help.Synopsis)),
            Description(help.Description),
            new XElement(Command + "syntax", SyntaxItems(help)),
            new XElement(Command + "parameters", help.Parameters.Select(p => Parameter(p, inSyntax: false))),
            new XElement(Command + "inputTypes", help.Inputs.Select(t =>
                new XElement(Command + "inputType", Type(t.Name), Description(t.Description)))),
            new XElement(Command + "returnValues", help.Outputs.Select(t =>
                new XElement(Command + "returnValue", Type(t.Name), Description(t.Description)))),
            new XElement(Maml + "alertSet", new XElement(Maml + "alert", Paras(help.Notes))),
            new XElement(Command + "examples", help.Examples.Select(e =>
                new XElement(Command + "example",
                    new XElement(Maml + "title", ExampleTitle(e.Title)),
                    new XElement(Dev + "code", e.Code),
                    // The empty paragraph puts a blank line between examples in Get-Help's console view.
                    new XElement(Dev + "remarks", Paras(e.Remarks.Append("")))))),
            new XElement(Command + "relatedLinks", help.Links.Select(l =>
                new XElement(Maml + "navigationLink",
                    new XElement(Maml + "linkText", l.Text),
                    new XElement(Maml + "uri", l.Uri)))));

    /// <summary>
    /// One syntax line per parameter set (one line when every parameter is in all sets): the set's parameters and
    /// those in all sets, positional ones by position, then the named ones in the order documented.
    /// </summary>
    private static IEnumerable<XElement> SyntaxItems(CommandHelp help)
    {
        var sets = help.Parameters.SelectMany(p => SetsOf(p)).Where(s => s != "(All)").Distinct(StringComparer.Ordinal).ToList();
        if (sets.Count == 0)
        {
            sets.Add("(All)");
        }
        foreach (var set in sets)
        {
            var members = help.Parameters.Where(p => SetsOf(p).Contains("(All)") || SetsOf(p).Contains(set)).ToList();
            var ordered = members.Where(p => p.IsPositional).OrderBy(p => int.Parse(p.Position, System.Globalization.CultureInfo.InvariantCulture))
                .Concat(members.Where(p => !p.IsPositional));
            yield return new XElement(Command + "syntaxItem",
                new XElement(Maml + "name", help.Name),
                ordered.Select(p => Parameter(p, inSyntax: true)));
        }
    }

    private static string[] SetsOf(ParameterHelp p) =>
        string.IsNullOrWhiteSpace(p.ParameterSets) ? ["(All)"] : p.ParameterSets.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    private static XElement Parameter(ParameterHelp p, bool inSyntax)
    {
        var element = new XElement(Command + "parameter",
            new XAttribute("required", Lower(p.Required)),
            new XAttribute("variableLength", "true"),
            new XAttribute("globbing", Lower(p.Globbing)),
            new XAttribute("pipelineInput", p.PipelineInput),
            new XAttribute("position", p.IsPositional ? p.Position : "named"),
            new XAttribute("aliases", p.Aliases.Count == 0 ? "none" : string.Join(", ", p.Aliases)),
            new XElement(Maml + "name", p.Name),
            Description(p.Description));
        if (p.AcceptedValues.Count > 0)
        {
            element.Add(new XElement(Command + "parameterValueGroup", p.AcceptedValues.Select(v =>
                new XElement(Command + "parameterValue", new XAttribute("required", "false"), new XAttribute(Command + "variableLength", "false"), v))));
        }
        if (!(inSyntax && (p.IsSwitch || p.AcceptedValues.Count > 0)))
        {
            element.Add(new XElement(Command + "parameterValue",
                new XAttribute("required", Lower(!p.IsSwitch)), new XAttribute("variableLength", "false"), p.Type));
        }
        element.Add(Type(p.Type), new XElement(Dev + "defaultValue", p.DefaultValue));
        return element;
    }

    private static XElement Type(string name)
    {
        var element = name.EndsWith("[]", StringComparison.Ordinal) ? name[..^2] : name;
        var full = FullTypeNames.TryGetValue(element, out var known) ? known + name[element.Length..] : name;
        return new XElement(Dev + "type", new XElement(Maml + "name", full), new XElement(Maml + "uri"));
    }

    private static XElement Description(IEnumerable<string> paragraphs) => new(Maml + "description", Paras(paragraphs));

    private static IEnumerable<XElement> Paras(IEnumerable<string> paragraphs) => paragraphs.Select(p => new XElement(Maml + "para", p));

    /// <summary>The example title as Get-Help shows it, framed with dashes like PowerShell's own help.</summary>
    private static string ExampleTitle(string title)
    {
        var dashes = new string('-', Math.Max(4, (60 - title.Length) / 2));
        return $"{dashes} {title} {dashes}";
    }

    private static string Lower(bool value) => value ? "true" : "false";
}
