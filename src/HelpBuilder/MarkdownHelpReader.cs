using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace JP1Dist.HelpBuilder;

/// <summary>
/// Reads one cmdlet help file in platyPS's markdown layout: YAML front matter, then "# Name" and the
/// sections SYNOPSIS, SYNTAX, DESCRIPTION, EXAMPLES, PARAMETERS, INPUTS, OUTPUTS, NOTES and RELATED LINKS.
/// A file that strays from the layout is refused with its name and line, so mistakes surface when help is built.
/// </summary>
public static partial class MarkdownHelpReader
{
    /// <summary>The sections every file has, in this order.</summary>
    public static readonly IReadOnlyList<string> Sections =
        ["SYNOPSIS", "SYNTAX", "DESCRIPTION", "EXAMPLES", "PARAMETERS", "INPUTS", "OUTPUTS", "NOTES", "RELATED LINKS"];

    private static readonly string[] ParameterFields =
        ["Type", "Parameter Sets", "Aliases", "Accepted values", "Required", "Position", "Default value", "Accept pipeline input", "Accept wildcard characters"];

    /// <summary>Parses the markdown text of one cmdlet; <paramref name="source"/> names it in error messages.</summary>
    public static CommandHelp Parse(string markdown, string source)
    {
        var lines = markdown.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var index = 0;
        var metadata = ReadFrontMatter(lines, ref index, source);
        var blocks = Tokenize(lines, index, source);

        var position = 0;
        var title = Expect(blocks, ref position, 1, null, source);
        var sections = new Dictionary<string, List<Block>>(StringComparer.Ordinal);
        var order = new List<string>();
        while (position < blocks.Count)
        {
            var heading = blocks[position];
            if (heading.Kind != BlockKind.Heading || heading.Level != 2)
            {
                throw Error(source, heading.Line, $"expected a '## SECTION' heading, found '{heading.Text.Split('\n')[0]}'");
            }
            if (!Sections.Contains(heading.Text) || sections.ContainsKey(heading.Text))
            {
                throw Error(source, heading.Line, $"unexpected or repeated section '{heading.Text}'");
            }
            position++;
            var body = new List<Block>();
            while (position < blocks.Count && !(blocks[position].Kind == BlockKind.Heading && blocks[position].Level <= 2))
            {
                body.Add(blocks[position++]);
            }
            sections[heading.Text] = body;
            order.Add(heading.Text);
        }
        var missing = Sections.Where(s => !sections.ContainsKey(s)).ToList();
        if (missing.Count > 0)
        {
            throw Error(source, lines.Length, $"missing section(s) {string.Join(", ", missing)}");
        }
        if (!order.SequenceEqual(Sections))
        {
            throw Error(source, 1, $"sections must come in the order {string.Join(", ", Sections)}");
        }

        return new CommandHelp(
            title.Text,
            metadata,
            Paragraphs(sections["SYNOPSIS"], source),
            sections["SYNTAX"].Where(b => b.Kind == BlockKind.Code).Select(b => b.Text).ToList(),
            Paragraphs(sections["DESCRIPTION"], source),
            ReadExamples(sections["EXAMPLES"], source),
            ReadParameters(sections["PARAMETERS"], source),
            ReadTypes(sections["INPUTS"], source),
            ReadTypes(sections["OUTPUTS"], source),
            Paragraphs(sections["NOTES"], source),
            ReadLinks(sections["RELATED LINKS"], source));
    }

    private static Dictionary<string, string> ReadFrontMatter(string[] lines, ref int index, string source)
    {
        var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (lines.Length == 0 || lines[0].Trim() != "---")
        {
            throw Error(source, 1, "the file must start with YAML front matter ('---')");
        }
        index = 1;
        while (index < lines.Length && lines[index].Trim() != "---")
        {
            var line = lines[index];
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw Error(source, index + 1, $"front matter line '{line}' is not 'key: value'");
            }
            metadata[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            index++;
        }
        if (index >= lines.Length)
        {
            throw Error(source, index, "the front matter is not closed with '---'");
        }
        index++;
        return metadata;
    }

    private enum BlockKind { Heading, Code, Text }

    private sealed record Block(BlockKind Kind, int Level, string Text, string Info, int Line);

    /// <summary>Splits the body into headings, fenced code blocks and paragraphs (runs of non-blank lines).</summary>
    private static List<Block> Tokenize(string[] lines, int start, string source)
    {
        var blocks = new List<Block>();
        var paragraph = new List<string>();
        var paragraphLine = 0;
        void Flush()
        {
            if (paragraph.Count > 0)
            {
                blocks.Add(new Block(BlockKind.Text, 0, string.Join("\n", paragraph), "", paragraphLine));
                paragraph.Clear();
            }
        }
        for (var i = start; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd();
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                Flush();
                var info = line[3..].Trim();
                var code = new List<string>();
                var open = i + 1;
                i++;
                while (i < lines.Length && !lines[i].TrimEnd().StartsWith("```", StringComparison.Ordinal))
                {
                    code.Add(lines[i].TrimEnd());
                    i++;
                }
                if (i >= lines.Length)
                {
                    throw Error(source, open, "a code block is not closed with ```");
                }
                blocks.Add(new Block(BlockKind.Code, 0, string.Join("\n", code), info, open));
                continue;
            }
            var heading = HeadingPattern().Match(line);
            if (heading.Success)
            {
                Flush();
                blocks.Add(new Block(BlockKind.Heading, heading.Groups[1].Length, heading.Groups[2].Value.Trim(), "", i + 1));
                continue;
            }
            if (line.Length == 0)
            {
                Flush();
                continue;
            }
            if (paragraph.Count == 0)
            {
                paragraphLine = i + 1;
            }
            paragraph.Add(line);
        }
        Flush();
        return blocks;
    }

    private static Block Expect(List<Block> blocks, ref int position, int level, string? text, string source)
    {
        if (position >= blocks.Count || blocks[position].Kind != BlockKind.Heading || blocks[position].Level != level
            || (text is not null && blocks[position].Text != text))
        {
            var line = position < blocks.Count ? blocks[position].Line : 0;
            throw Error(source, line, $"expected a level-{level} heading{(text is null ? "" : $" '{text}'")}");
        }
        return blocks[position++];
    }

    /// <summary>
    /// The help paragraphs of a run of blocks: a paragraph's lines are joined (the console wraps them), list
    /// items become one paragraph each, code blocks are kept verbatim.
    /// </summary>
    private static List<string> Paragraphs(IEnumerable<Block> blocks, string source)
    {
        var paragraphs = new List<string>();
        foreach (var block in blocks)
        {
            switch (block.Kind)
            {
                case BlockKind.Code:
                    paragraphs.Add(block.Text);
                    break;
                case BlockKind.Text:
                    paragraphs.AddRange(TextParagraphs(block.Text));
                    break;
                default:
                    throw Error(source, block.Line, $"unexpected heading '{block.Text}'");
            }
        }
        return paragraphs;
    }

    private static IEnumerable<string> TextParagraphs(string text)
    {
        var items = new List<StringBuilder>();
        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.Trim();
            if (items.Count == 0 || ListItemPattern().IsMatch(trimmed))
            {
                items.Add(new StringBuilder(trimmed));
            }
            else
            {
                items[^1].Append(' ').Append(trimmed);
            }
        }
        return items.Select(item => Inline(item.ToString()));
    }

    /// <summary>Plain text for the console: code spans lose their backticks, links keep their text, emphasis goes.</summary>
    public static string Inline(string text)
    {
        text = LinkPattern().Replace(text, "$1");
        text = CodeSpanPattern().Replace(text, "$1");
        text = StrongPattern().Replace(text, "$1");
        return text;
    }

    private static List<ExampleHelp> ReadExamples(List<Block> blocks, string source)
    {
        var examples = new List<ExampleHelp>();
        var position = 0;
        while (position < blocks.Count)
        {
            var heading = Expect(blocks, ref position, 3, null, source);
            if (!heading.Text.StartsWith("Example ", StringComparison.Ordinal))
            {
                throw Error(source, heading.Line, $"an example heading starts with 'Example N', found '{heading.Text}'");
            }
            if (position >= blocks.Count || blocks[position].Kind != BlockKind.Code)
            {
                throw Error(source, heading.Line, $"example '{heading.Text}' must start with a code block");
            }
            var code = blocks[position++].Text;
            var remarks = new List<Block>();
            while (position < blocks.Count && blocks[position].Kind != BlockKind.Heading)
            {
                remarks.Add(blocks[position++]);
            }
            examples.Add(new ExampleHelp(heading.Text, code, Paragraphs(remarks, source)));
        }
        return examples;
    }

    private static List<ParameterHelp> ReadParameters(List<Block> blocks, string source)
    {
        var parameters = new List<ParameterHelp>();
        var position = 0;
        while (position < blocks.Count)
        {
            var heading = Expect(blocks, ref position, 3, null, source);
            var description = new List<Block>();
            while (position < blocks.Count && blocks[position].Kind != BlockKind.Heading
                && !(blocks[position].Kind == BlockKind.Code && blocks[position].Info == "yaml"))
            {
                description.Add(blocks[position++]);
            }
            if (heading.Text == "CommonParameters")
            {
                continue; // platyPS's standard paragraph; PowerShell adds the common parameters itself.
            }
            if (!heading.Text.StartsWith('-'))
            {
                throw Error(source, heading.Line, $"a parameter heading is '### -Name', found '{heading.Text}'");
            }
            if (position >= blocks.Count || blocks[position].Kind != BlockKind.Code)
            {
                throw Error(source, heading.Line, $"parameter '{heading.Text}' has no ```yaml block");
            }
            var yamlBlock = blocks[position++];
            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var line in yamlBlock.Text.Split('\n').Where(l => l.Trim().Length > 0))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                var key = colon > 0 ? line[..colon].Trim() : "";
                if (!ParameterFields.Contains(key) || fields.ContainsKey(key))
                {
                    throw Error(source, yamlBlock.Line, $"parameter '{heading.Text}': unknown or repeated field in '{line}'");
                }
                fields[key] = line[(colon + 1)..].Trim();
            }
            foreach (var required in ParameterFields.Where(f => f != "Accepted values" && !fields.ContainsKey(f)))
            {
                throw Error(source, yamlBlock.Line, $"parameter '{heading.Text}' lacks the field '{required}'");
            }
            if (description.Count == 0)
            {
                throw Error(source, heading.Line, $"parameter '{heading.Text}' has no description");
            }
            parameters.Add(new ParameterHelp(
                heading.Text[1..],
                Paragraphs(description, source),
                fields["Type"],
                fields["Parameter Sets"],
                List(fields["Aliases"]),
                List(fields.GetValueOrDefault("Accepted values", "")),
                Bool(fields["Required"], heading, source),
                Position(fields["Position"], heading, source),
                fields["Default value"],
                fields["Accept pipeline input"],
                Bool(fields["Accept wildcard characters"], heading, source)));
        }
        return parameters;
    }

    private static List<string> List(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    private static bool Bool(string value, Block heading, string source) => value switch
    {
        "True" => true,
        "False" => false,
        _ => throw Error(source, heading.Line, $"parameter '{heading.Text}': '{value}' is neither True nor False"),
    };

    private static string Position(string value, Block heading, string source) =>
        value == "Named" || int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _)
            ? value
            : throw Error(source, heading.Line, $"parameter '{heading.Text}': position '{value}' is neither a number nor Named");

    private static List<TypeHelp> ReadTypes(List<Block> blocks, string source)
    {
        var types = new List<TypeHelp>();
        var position = 0;
        while (position < blocks.Count)
        {
            var heading = Expect(blocks, ref position, 3, null, source);
            var description = new List<Block>();
            while (position < blocks.Count && blocks[position].Kind != BlockKind.Heading)
            {
                description.Add(blocks[position++]);
            }
            types.Add(new TypeHelp(heading.Text, Paragraphs(description, source)));
        }
        return types;
    }

    private static List<LinkHelp> ReadLinks(List<Block> blocks, string source)
    {
        var links = new List<LinkHelp>();
        foreach (var block in blocks)
        {
            if (block.Kind != BlockKind.Text)
            {
                throw Error(source, block.Line, "RELATED LINKS holds only [text](address) lines");
            }
            foreach (var line in block.Text.Split('\n'))
            {
                var match = LinkLinePattern().Match(line.Trim());
                if (!match.Success)
                {
                    throw Error(source, block.Line, $"'{line}' is not a [text](address) link");
                }
                var uri = match.Groups[2].Value;
                // A link to another help file is shown by name; only web addresses are kept as addresses.
                links.Add(new LinkHelp(match.Groups[1].Value, uri.StartsWith("http", StringComparison.OrdinalIgnoreCase) ? uri : ""));
            }
        }
        return links;
    }

    private static FormatException Error(string source, int line, string message) => new($"{source}({line}): {message}");

    [GeneratedRegex(@"^(#{1,6})\s+(.*)$")]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"^([-*]|\d+\.)\s")]
    private static partial Regex ListItemPattern();

    [GeneratedRegex(@"\[([^\]]+)\]\(([^)]*)\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex CodeSpanPattern();

    [GeneratedRegex(@"\*\*([^*]+)\*\*")]
    private static partial Regex StrongPattern();

    [GeneratedRegex(@"^\[([^\]]+)\]\(([^)]*)\)$")]
    private static partial Regex LinkLinePattern();
}
