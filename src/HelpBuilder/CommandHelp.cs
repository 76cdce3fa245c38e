namespace JP1Dist.HelpBuilder;

/// <summary>The help of one cmdlet, as read from its platyPS-style markdown file.</summary>
public sealed record CommandHelp(
    string Name,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<string> Synopsis,
    IReadOnlyList<string> Syntax,
    IReadOnlyList<string> Description,
    IReadOnlyList<ExampleHelp> Examples,
    IReadOnlyList<ParameterHelp> Parameters,
    IReadOnlyList<TypeHelp> Inputs,
    IReadOnlyList<TypeHelp> Outputs,
    IReadOnlyList<string> Notes,
    IReadOnlyList<LinkHelp> Links)
{
    /// <summary>The verb, the part of the name before the first dash.</summary>
    public string Verb => Name.Split('-', 2)[0];

    /// <summary>The noun, the part of the name after the first dash.</summary>
    public string Noun => Name.Split('-', 2)[1];
}

/// <summary>One example: a title, the code, and the paragraphs that explain it.</summary>
public sealed record ExampleHelp(string Title, string Code, IReadOnlyList<string> Remarks);

/// <summary>One parameter: its description and the fields of its yaml block.</summary>
public sealed record ParameterHelp(
    string Name,
    IReadOnlyList<string> Description,
    string Type,
    string ParameterSets,
    IReadOnlyList<string> Aliases,
    IReadOnlyList<string> AcceptedValues,
    bool Required,
    string Position,
    string DefaultValue,
    string PipelineInput,
    bool Globbing)
{
    /// <summary>True for a switch parameter, which takes no value.</summary>
    public bool IsSwitch => Type == "SwitchParameter";

    /// <summary>True when the parameter may be given without its name.</summary>
    public bool IsPositional => !string.Equals(Position, "Named", StringComparison.OrdinalIgnoreCase);
}

/// <summary>An input or output type and what it means.</summary>
public sealed record TypeHelp(string Name, IReadOnlyList<string> Description);

/// <summary>A related link: the text shown and the address (empty for a link to another help file).</summary>
public sealed record LinkHelp(string Text, string Uri);
