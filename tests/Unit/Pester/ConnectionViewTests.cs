using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Management.Automation.Runspaces;
using System.Reflection;
using System.Security;
using System.Text;
using JP1Dist.Contracts;
using Microsoft.PowerShell.Commands.Internal.Format;
using Xunit;

namespace JP1Dist.Tests.Pester;

/// <summary>
/// The views of the connection object (Connect-DistManager, Get-DistManager -Connection) rendered by the real PowerShell
/// engine from the module's format file, as a console of a given width shows them: the table fits 80 columns without
/// cutting anything, the list shows every property.
/// </summary>
public sealed class ConnectionViewTests
{
    private const string Pin = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private static readonly DistConnection Remote = new(true, "https://mgr01.corp.local:22400/", "Connect-DistManager", "Night shift", DistRole.Administrator, Pin);
    private static readonly DistConnection Runbook = new(true, "https://10.1.2.3:22400/", "JP1DIST_MANAGER_URI", "runbook", DistRole.Operator);
    private static readonly DistConnection Local = new(false, "/home/admin/.local/share/JP1Dist", "Local");

    [Fact]
    public void A_long_location_wraps_in_its_column_and_is_not_cut()
    {
        var text = Render(80, null, Local with { Location = "/srv/jp1dist/data/site-a/manager-primary/home" });
        Assert.All(Lines(text), l => Assert.True(l.Length <= 80, $"wider than 80 columns: '{l}'"));
        Assert.Contains("/srv/jp1dist/data/site-a/manager-primary/home", string.Concat(Lines(text).Skip(2).Select(l => l[..Math.Min(32, l.Length)].Trim())), StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_view_is_a_table_that_fits_80_columns_and_cuts_nothing()
    {
        var narrow = Render(80, null, Remote, Runbook, Local);
        var wide = Render(300, null, Remote, Runbook, Local);
        // Fixed widths: a table that fits 80 columns renders exactly as on a wide console (nothing cut or wrapped away).
        Assert.Equal(wide, narrow);
        var lines = Lines(narrow);
        Assert.All(lines, l => Assert.True(l.Length <= 80, $"wider than 80 columns: '{l}'"));
        Assert.Contains(lines, l => l.StartsWith("Location", StringComparison.Ordinal) && l.Contains("Via", StringComparison.Ordinal)
            && l.Contains("Principal", StringComparison.Ordinal) && l.Contains("Role", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("https://mgr01.corp.local:22400/", StringComparison.Ordinal) && l.Contains("Connect-DistManager", StringComparison.Ordinal)
            && l.Contains("Night shift", StringComparison.Ordinal) && l.Contains("Administrator", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("JP1DIST_MANAGER_URI", StringComparison.Ordinal) && l.Contains("Operator", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("Local", StringComparison.Ordinal) && l.Contains("/home/admin/.local/share/JP1Dist", StringComparison.Ordinal));
        Assert.DoesNotContain("…", narrow, StringComparison.Ordinal);
    }

    [Fact]
    public void The_list_view_shows_every_property_with_its_value()
    {
        // 120 columns: the pin's 64 digits after the label take 81, so an 80-column console wraps that one line.
        var lines = Lines(Render(120, "Format-List", Remote));
        foreach (var property in typeof(DistConnection).GetProperties().Where(p => p.Name != "EqualityContract"))
        {
            var line = Assert.Single(lines, l => l.StartsWith(property.Name + " ", StringComparison.Ordinal));
            Assert.EndsWith(": " + Convert.ToString(property.GetValue(Remote), CultureInfo.InvariantCulture), line, StringComparison.Ordinal);
        }
    }

    private static string[] Lines(string text) => text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToArray();

    /// <summary>What Out-Default writes to a console <paramref name="width"/> columns wide, after <paramref name="format"/> when given.</summary>
    private static string Render(int width, string? format, params DistConnection[] objects)
    {
        var state = InitialSessionState.CreateDefault2();
        state.Formats.Add(new SessionStateFormatEntry(Path.Combine(Repository.Root, "src", "PSModule", "JP1Dist.Format.ps1xml")));
        // Format-List and Format-Table live in the Utility module, which the engine's package does not carry; their
        // classes are one line each over the engine's own formatting code, made here the same way.
        state.Commands.Add(new SessionStateCmdletEntry("Format-List", typeof(FormatListStandIn), null));
        var host = new CapturingHost(width);
        using var runspace = RunspaceFactory.CreateRunspace(host, state);
        runspace.Open();
        using var shell = PowerShell.Create(runspace);
        shell.AddScript("param($o) $o | " + (format is null ? "" : format + " | ") + "Out-Default").AddArgument(objects);
        shell.Invoke();
        Assert.False(shell.HadErrors, string.Join("\n", shell.Streams.Error));
        // Plain text, as Out-String gives it: the colour sequences of headers and labels take no columns.
        return System.Text.RegularExpressions.Regex.Replace(host.Text, "\x1b\\[[0-9;]*m", "");
    }

    /// <summary>Format-List as the Utility module defines it: the engine's list shape behind the table-and-list parameters.</summary>
    [Cmdlet(VerbsCommon.Format, "List")]
    public sealed class FormatListStandIn : OuterFormatTableAndListBase
    {
        public FormatListStandIn()
        {
            var assembly = typeof(PSObject).Assembly;
            var shape = Enum.Parse(assembly.GetType("Microsoft.PowerShell.Commands.Internal.Format.FormatShape", throwOnError: true)!, "List");
            var inner = Activator.CreateInstance(assembly.GetType("Microsoft.PowerShell.Commands.Internal.Format.InnerFormatShapeCommand", throwOnError: true)!,
                BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, null, [shape], CultureInfo.InvariantCulture);
            typeof(FrontEndCommandBase).GetField("implementation", BindingFlags.Instance | BindingFlags.NonPublic)!.SetValue(this, inner);
        }
    }

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
