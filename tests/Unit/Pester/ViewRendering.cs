using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Management.Automation.Runspaces;
using System.Reflection;
using System.Security;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.PowerShell.Commands.Internal.Format;
using Xunit;

namespace JP1Dist.Tests.Pester;

/// <summary>How a rendering reaches text: what Out-Default writes to a console that wide, or what Out-String -Width gives.</summary>
internal enum ViewOutput
{
    Console,
    OutString,
}

/// <summary>
/// Renders objects through the real PowerShell engine with the module's format file, as a console of a given width shows
/// them (Out-Default on a host that wide) or as Out-String -Width gives them.
/// </summary>
internal static partial class ViewRendering
{
    public static string FormatFile => Path.Combine(Repository.Root, "src", "PSModule", "JP1Dist.Format.ps1xml");

    /// <summary>The non-blank lines of a rendering, without their line ends.</summary>
    public static string[] Lines(string text) => text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToArray();

    /// <summary>The text of <paramref name="objects"/> at <paramref name="width"/> columns, after <paramref name="format"/> (a Format-* command line) when given.</summary>
    public static string Render(int width, string? format, params object[] objects) => Render(ViewOutput.Console, width, format, objects);

    /// <inheritdoc cref="Render(int, string?, object[])"/>
    public static string Render(ViewOutput output, int width, string? format, params object[] objects)
    {
        var state = InitialSessionState.CreateDefault2();
        state.Formats.Add(new SessionStateFormatEntry(FormatFile));
        // Format-List, Format-Table and Out-String live in the Utility module, which the engine's package does not carry;
        // their classes are a few lines each over the engine's own formatting code, made here the same way.
        state.Commands.Add(new SessionStateCmdletEntry("Format-List", typeof(FormatListStandIn), null));
        state.Commands.Add(new SessionStateCmdletEntry("Format-Table", typeof(FormatTableStandIn), null));
        state.Commands.Add(new SessionStateCmdletEntry("Out-String", typeof(OutStringStandIn), null));
        // The console's width applies to Out-Default; Out-String is given its own and runs on a host far wider, so only -Width counts.
        var host = new CapturingHost(output == ViewOutput.Console ? width : 1000);
        using var runspace = RunspaceFactory.CreateRunspace(host, state);
        runspace.Open();
        using var shell = PowerShell.Create(runspace);
        var formatting = format is null ? "" : format + " | ";
        var script = output == ViewOutput.Console
            ? "param($o) $o | " + formatting + "Out-Default"
            : "param($o) $o | " + formatting + "Out-String -Width " + width.ToString(CultureInfo.InvariantCulture);
        shell.AddScript(script).AddArgument(objects);
        var results = shell.Invoke();
        Assert.False(shell.HadErrors, string.Join("\n", shell.Streams.Error));
        var text = output == ViewOutput.Console ? host.Text : string.Concat(results.Select(r => r.ToString()));
        // Plain text: the colour sequences of headers and labels take no columns.
        return Escapes().Replace(text, "");
    }

    [GeneratedRegex("\x1b\\[[0-9;]*m")]
    private static partial Regex Escapes();

    private static object Shape(string name)
    {
        var assembly = typeof(PSObject).Assembly;
        var shape = Enum.Parse(assembly.GetType("Microsoft.PowerShell.Commands.Internal.Format.FormatShape", throwOnError: true)!, name);
        return Activator.CreateInstance(assembly.GetType("Microsoft.PowerShell.Commands.Internal.Format.InnerFormatShapeCommand", throwOnError: true)!,
            BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, null, [shape], CultureInfo.InvariantCulture)!;
    }

    private static void SetImplementation(FrontEndCommandBase command, object implementation) =>
        typeof(FrontEndCommandBase).GetField("implementation", BindingFlags.Instance | BindingFlags.NonPublic)!.SetValue(command, implementation);

    /// <summary>Format-List as the Utility module defines it: the engine's list shape behind the table-and-list parameters.</summary>
    [Cmdlet(VerbsCommon.Format, "List")]
    public sealed class FormatListStandIn : OuterFormatTableAndListBase
    {
        public FormatListStandIn() => SetImplementation(this, Shape("List"));
    }

    /// <summary>Format-Table as the Utility module defines it (without -AutoSize and -HideTableHeaders, which the tests do not use).</summary>
    [Cmdlet(VerbsCommon.Format, "Table")]
    public sealed class FormatTableStandIn : OuterFormatTableBase
    {
        public FormatTableStandIn() => SetImplementation(this, Shape("Table"));
    }

    /// <summary>Out-String -Width as the Utility module defines it: the engine's output manager writing lines of that width to a buffer.</summary>
    [Cmdlet(VerbsData.Out, "String")]
    public sealed class OutStringStandIn : FrontEndCommandBase
    {
        private static readonly Assembly Engine = typeof(PSObject).Assembly;
        private readonly StringWriter _buffer = new(CultureInfo.InvariantCulture);

        public OutStringStandIn() => SetImplementation(this, Activator.CreateInstance(
            Engine.GetType("Microsoft.PowerShell.Commands.Internal.Format.OutputManagerInner", throwOnError: true)!, nonPublic: true)!);

        [Parameter]
        public int Width { get; set; } = int.MaxValue;

        protected override void BeginProcessing()
        {
            var lineOutput = Activator.CreateInstance(Engine.GetType("Microsoft.PowerShell.Commands.Internal.Format.TextWriterLineOutput", throwOnError: true)!,
                BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, null, [_buffer, Width], CultureInfo.InvariantCulture);
            var inner = typeof(FrontEndCommandBase).GetField("implementation", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(this)!;
            inner.GetType().GetProperty("LineOutput", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!.SetValue(inner, lineOutput);
            base.BeginProcessing();
        }

        protected override void EndProcessing()
        {
            base.EndProcessing();
            WriteObject(_buffer.ToString());
        }
    }

    /// <summary>A host whose console is <paramref name="width"/> columns wide and which keeps what is written to it.</summary>
    private sealed class CapturingHost(int width) : PSHost
    {
        private readonly CapturingUI _ui = new(width);

        public string Text => _ui.Text.ToString();
        public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
        public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
        public override Guid InstanceId { get; } = Guid.NewGuid();
        public override string Name => "JP1Dist.ViewTests";
        public override PSHostUserInterface UI => _ui;
        public override Version Version => new(1, 0);
        public override void EnterNestedPrompt() => throw new NotSupportedException();
        public override void ExitNestedPrompt() => throw new NotSupportedException();
        public override void NotifyBeginApplication() { }
        public override void NotifyEndApplication() { }
        public override void SetShouldExit(int exitCode) { }
    }

    private sealed class CapturingUI(int width) : PSHostUserInterface
    {
        private readonly CapturingRawUI _raw = new(width);

        public StringBuilder Text { get; } = new();
        public override PSHostRawUserInterface RawUI => _raw;
        public override void Write(string value) => Text.Append(value);
        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Text.Append(value);
        public override void WriteLine(string value) => Text.Append(value).Append('\n');
        public override void WriteErrorLine(string value) => Text.Append(value).Append('\n');
        public override void WriteDebugLine(string message) { }
        public override void WriteProgress(long sourceId, ProgressRecord record) { }
        public override void WriteVerboseLine(string message) { }
        public override void WriteWarningLine(string message) { }
        public override string ReadLine() => throw new NotSupportedException();
        public override SecureString ReadLineAsSecureString() => throw new NotSupportedException();
        public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions) => throw new NotSupportedException();
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw new NotSupportedException();
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => throw new NotSupportedException();
        public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice) => throw new NotSupportedException();
    }

    private sealed class CapturingRawUI(int width) : PSHostRawUserInterface
    {
        public override ConsoleColor BackgroundColor { get; set; }
        public override ConsoleColor ForegroundColor { get; set; }
        public override Size BufferSize { get => new(width, 1000); set { } }
        public override Coordinates CursorPosition { get; set; }
        public override int CursorSize { get; set; }
        public override bool KeyAvailable => false;
        public override Size MaxPhysicalWindowSize => new(width, 1000);
        public override Size MaxWindowSize => new(width, 1000);
        public override Coordinates WindowPosition { get; set; }
        public override Size WindowSize { get => new(width, 50); set { } }
        public override string WindowTitle { get; set; } = "";
        public override void FlushInputBuffer() { }
        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();
        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException();
        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) => throw new NotSupportedException();
        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) => throw new NotSupportedException();
        public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
    }
}
