using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace JP1Dist.AgentHost.Scripting;

/// <summary>
/// A small PowerShell host whose UI writes to the console, so that Out-Default formats objects through
/// the module's views when jp1dist runs a script on a computer without pwsh.
/// </summary>
internal sealed class ConsolePSHost : PSHost
{
    private readonly ConsoleHostUI _ui = new();
    private readonly Guid _id = Guid.NewGuid();

    public int? ExitCode { get; private set; }

    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;
    public override Guid InstanceId => _id;
    public override string Name => "JP1Dist";
    public override PSHostUserInterface UI => _ui;
    public override Version Version => typeof(ConsolePSHost).Assembly.GetName().Version ?? new Version(1, 0);

    public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not available in jp1dist run.");
    public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not available in jp1dist run.");
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }
    public override void SetShouldExit(int exitCode) => ExitCode = exitCode;
}

internal sealed class ConsoleHostUI : PSHostUserInterface
{
    private readonly ConsoleRawUI _raw = new();

    public override PSHostRawUserInterface RawUI => _raw;

    /// <summary>Escape sequences only for a terminal; logs and CI read plain text.</summary>
    public override bool SupportsVirtualTerminal => !Console.IsOutputRedirected;

    public override string ReadLine() => Console.ReadLine() ?? "";
    public override SecureString ReadLineAsSecureString() => throw new NotSupportedException("Reading secrets is not available in jp1dist run.");

    public override void Write(string value) => Console.Write(value);
    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Console.Write(value);
    public override void WriteLine(string value) => Console.WriteLine(value);
    public override void WriteErrorLine(string value) => WriteColored(Console.Error, ConsoleColor.Red, value);
    public override void WriteDebugLine(string message) => WriteColored(Console.Out, ConsoleColor.DarkGray, "DEBUG: " + message);
    public override void WriteVerboseLine(string message) => WriteColored(Console.Out, ConsoleColor.DarkGray, "VERBOSE: " + message);
    public override void WriteWarningLine(string message) => WriteColored(Console.Out, ConsoleColor.Yellow, "WARNING: " + message);

    public override void WriteProgress(long sourceId, ProgressRecord record)
    {
        // One line per change of percentage keeps logs readable where there is no terminal to redraw.
        if (record.RecordType == ProgressRecordType.Completed || Console.IsOutputRedirected)
        {
            return;
        }
        Console.Write($"\r{record.Activity}: {record.StatusDescription} ({Math.Max(record.PercentComplete, 0)}%)   ");
    }

    public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions) =>
        throw new NotSupportedException("Prompting is not available in jp1dist run; pass every mandatory parameter.");

    public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice) =>
        defaultChoice;

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
        throw new NotSupportedException("Prompting for credentials is not available in jp1dist run.");

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
        throw new NotSupportedException("Prompting for credentials is not available in jp1dist run.");

    private static void WriteColored(TextWriter writer, ConsoleColor color, string value)
    {
        var redirected = writer == Console.Error ? Console.IsErrorRedirected : Console.IsOutputRedirected;
        if (redirected)
        {
            writer.WriteLine(value);
            return;
        }
        var previous = Console.ForegroundColor;
        Console.ForegroundColor = color;
        writer.WriteLine(value);
        Console.ForegroundColor = previous;
    }
}

internal sealed class ConsoleRawUI : PSHostRawUserInterface
{
    private static int Width => Console.IsOutputRedirected ? 160 : Math.Max(Console.WindowWidth, 80);

    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;
    public override Size BufferSize { get => new(Width, 9999); set { } }
    public override Coordinates CursorPosition { get => new(0, 0); set { } }
    public override int CursorSize { get; set; } = 1;
    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
    public override bool KeyAvailable => false;
    public override Size MaxPhysicalWindowSize => new(Width, 9999);
    public override Size MaxWindowSize => new(Width, 9999);
    public override Coordinates WindowPosition { get => new(0, 0); set { } }
    public override Size WindowSize { get => new(Width, 50); set { } }
    public override string WindowTitle { get; set; } = "jp1dist";

    public override void FlushInputBuffer() { }
    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();
    public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException("Reading keys is not available in jp1dist run.");
    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }
    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }
    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
}
