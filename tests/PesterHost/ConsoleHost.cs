using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace JP1Dist.PesterHost;

/// <summary>Minimal non-interactive PowerShell host that writes everything to the console.</summary>
public sealed class ConsoleHost : PSHost
{
    private readonly ConsoleHostUserInterface ui = new();

    /// <inheritdoc />
    public override CultureInfo CurrentCulture => CultureInfo.CurrentCulture;

    /// <inheritdoc />
    public override CultureInfo CurrentUICulture => CultureInfo.CurrentUICulture;

    /// <inheritdoc />
    public override Guid InstanceId { get; } = Guid.NewGuid();

    /// <inheritdoc />
    public override string Name => "JP1Dist.PesterHost";

    /// <inheritdoc />
    public override PSHostUserInterface UI => ui;

    /// <inheritdoc />
    public override Version Version => typeof(ConsoleHost).Assembly.GetName().Version ?? new Version(1, 0);

    /// <inheritdoc />
    public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by the test host.");

    /// <inheritdoc />
    public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by the test host.");

    /// <inheritdoc />
    public override void NotifyBeginApplication()
    {
    }

    /// <inheritdoc />
    public override void NotifyEndApplication()
    {
    }

    /// <inheritdoc />
    public override void SetShouldExit(int exitCode)
    {
        // A test calling 'exit' must not end the runner; the shim reports the rest of the file.
    }
}

/// <summary>Console user interface for <see cref="ConsoleHost"/>; prompts fail because tests run unattended.</summary>
public sealed class ConsoleHostUserInterface : PSHostUserInterface
{
    private readonly ConsoleRawUserInterface rawUi = new();
    private string? echoToSwallow;

    /// <inheritdoc />
    public override PSHostRawUserInterface RawUI => rawUi;

    /// <inheritdoc />
    public override string ReadLine() => throw Unattended();

    /// <inheritdoc />
    public override SecureString ReadLineAsSecureString() => throw Unattended();

    /// <inheritdoc />
    public override void Write(string value)
    {
        echoToSwallow = null;
        Console.Out.Write(value);
    }

    /// <inheritdoc />
    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Write(value);

    /// <inheritdoc />
    public override void WriteLine(string value)
    {
        var swallow = echoToSwallow is not null && value == echoToSwallow;
        echoToSwallow = null;
        if (!swallow)
        {
            Console.Out.WriteLine(value);
        }
    }

    /// <inheritdoc />
    public override void WriteErrorLine(string value) => Console.Out.WriteLine("ERROR: " + value);

    /// <inheritdoc />
    public override void WriteDebugLine(string message) => Console.Out.WriteLine("DEBUG: " + message);

    /// <inheritdoc />
    public override void WriteProgress(long sourceId, ProgressRecord record)
    {
        // Progress bars are noise in a log.
    }

    /// <inheritdoc />
    public override void WriteVerboseLine(string message) => Console.Out.WriteLine("VERBOSE: " + message);

    /// <inheritdoc />
    public override void WriteWarningLine(string message) => Console.Out.WriteLine("WARNING: " + message);

    /// <inheritdoc />
    public override void WriteInformation(InformationRecord record)
    {
        // The engine calls this for every information record, then echoes the record with WriteLine only when
        // InformationPreference is Continue. Tests should show Write-Information output regardless, so print it
        // here and swallow the echo. Write-Host records (tag PSHOST) are left to the engine's own display.
        echoToSwallow = null;
        if (!record.Tags.Contains("PSHOST"))
        {
            Console.Out.WriteLine("INFO: " + record);
            echoToSwallow = record.ToString();
        }
    }

    /// <inheritdoc />
    public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions) => throw Unattended();

    /// <inheritdoc />
    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw Unattended();

    /// <inheritdoc />
    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => throw Unattended();

    /// <inheritdoc />
    public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice) => throw Unattended();

    private static PSInvalidOperationException Unattended() => new("The test host is non-interactive: prompting for input is not possible.");
}

/// <summary>Fixed-size raw UI so scripts that query the buffer width get a sane answer without a terminal.</summary>
public sealed class ConsoleRawUserInterface : PSHostRawUserInterface
{
    /// <inheritdoc />
    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;

    /// <inheritdoc />
    public override Size BufferSize { get; set; } = new(120, 9999);

    /// <inheritdoc />
    public override Coordinates CursorPosition { get; set; }

    /// <inheritdoc />
    public override int CursorSize { get; set; } = 1;

    /// <inheritdoc />
    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;

    /// <inheritdoc />
    public override bool KeyAvailable => false;

    /// <inheritdoc />
    public override Size MaxPhysicalWindowSize => new(120, 50);

    /// <inheritdoc />
    public override Size MaxWindowSize => new(120, 50);

    /// <inheritdoc />
    public override Coordinates WindowPosition { get; set; }

    /// <inheritdoc />
    public override Size WindowSize { get; set; } = new(120, 50);

    /// <inheritdoc />
    public override string WindowTitle { get; set; } = string.Empty;

    /// <inheritdoc />
    public override void FlushInputBuffer()
    {
    }

    /// <inheritdoc />
    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => new BufferCell[0, 0];

    /// <inheritdoc />
    public override KeyInfo ReadKey(ReadKeyOptions options) => throw new PSInvalidOperationException("The test host is non-interactive: reading keys is not possible.");

    /// <inheritdoc />
    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill)
    {
    }

    /// <inheritdoc />
    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents)
    {
    }

    /// <inheritdoc />
    public override void SetBufferContents(Rectangle rectangle, BufferCell fill)
    {
    }
}
