using JP1Dist.Agent;
using JP1Dist.Tests.Host;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>`jp1dist run-install`, the real program: what it records for each way an install command can end, and what it refuses.</summary>
public sealed class InstallWrapperTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("jp1dist-wrapper-").FullName;

    private string Record => Path.Combine(_root, "record");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Records_itself_then_the_exit_code_and_output_of_the_command_and_passes_the_output_on()
    {
        using var wrapper = NodeProcess.Start(null, InstallWrapper.CommandName, "--record", Record, "--timeout", "60", "--",
            "/bin/sh", "-c", "echo one; echo two >&2; exit 7");
        Assert.Equal(0, await wrapper.WaitAsync(TimeSpan.FromSeconds(60)));

        var started = InstallRecord.ReadStarted(Record)!;
        Assert.Equal(wrapper.Process.Id, started.Wrapper.ProcessId);
        Assert.Equal(60, started.TimeoutSeconds);
        Assert.False(started.Wrapper.IsRunning());
        var ended = InstallRecord.ReadEnded(Record)!;
        Assert.Equal(7, ended.ExitCode);
        Assert.False(ended.TimedOut);
        Assert.Null(ended.NotStarted);
        Assert.Contains("one", ended.OutputTail, StringComparison.Ordinal);
        Assert.Contains("two", ended.OutputTail, StringComparison.Ordinal);
        Assert.Contains("one", await wrapper.OutputAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Records_a_command_that_cannot_start_as_the_fault_it_is()
    {
        using var wrapper = NodeProcess.Start(null, InstallWrapper.CommandName, "--record", Record, "--timeout", "60", "--", Path.Combine(_root, "no-such-setup"));
        Assert.Equal(0, await wrapper.WaitAsync(TimeSpan.FromSeconds(60)));

        var ended = InstallRecord.ReadEnded(Record)!;
        Assert.Null(ended.ExitCode);
        Assert.StartsWith($"The install command '{Path.Combine(_root, "no-such-setup")}' was not found", ended.NotStarted, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stops_the_command_and_what_it_started_at_its_limit_and_records_it()
    {
        var marker = Path.Combine(_root, "child.pid");
        using var wrapper = NodeProcess.Start(null, InstallWrapper.CommandName, "--record", Record, "--timeout", "1", "--",
            "/bin/sh", "-c", $"sleep 300 & echo $! > '{marker}'; wait");
        Assert.Equal(0, await wrapper.WaitAsync(TimeSpan.FromSeconds(60)));

        var ended = InstallRecord.ReadEnded(Record)!;
        Assert.True(ended.TimedOut);
        Assert.Null(ended.ExitCode);
        var child = int.Parse(File.ReadAllText(marker).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await Eventually.ForAsync(() => Task.FromResult(!File.Exists($"/proc/{child}") || File.ReadAllText($"/proc/{child}/stat").Contains(") Z", StringComparison.Ordinal)),
            "the command's own child stopped with it");
    }

    [Theory]
    [InlineData(new[] { "--timeout", "60", "--", "/bin/true" }, "--record is required.")]
    [InlineData(new[] { "--record", "R", "--", "/bin/true" }, "--timeout is required.")]
    [InlineData(new[] { "--record", "R", "--timeout", "0", "--", "/bin/true" }, "--timeout needs a value (a whole number of seconds above 0), not '0'.")]
    [InlineData(new[] { "--record", "R", "--timeout", "60", "--" }, "the install command is missing after '--'.")]
    [InlineData(new[] { "--record", "R", "--timeout", "60", "--verbose", "--", "/bin/true" }, "unknown argument '--verbose'.")]
    public async Task Refuses_a_command_line_it_cannot_use_naming_what_is_wrong_and_runs_nothing(string[] arguments, string error)
    {
        var args = arguments.Select(a => a == "R" ? Record : a).Prepend(InstallWrapper.CommandName).ToArray();
        using var wrapper = NodeProcess.Start(null, args);
        Assert.Equal(InstallWrapper.UsageExitCode, await wrapper.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains($"jp1dist run-install: {error}", await wrapper.OutputAsync(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Record));
    }
}
