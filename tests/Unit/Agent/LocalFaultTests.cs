using System.ComponentModel;
using System.Diagnostics;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Agent;

/// <summary>
/// Faults of the agent's own computer: how each is told from a remote failure and worded, and what becomes of the target
/// (Failed, the fault named, the files removed, the agent going on with its next work) for a missing or non-executable
/// install command, a staging folder that cannot be created, and a download folder the agent may not write.
/// </summary>
public sealed class LocalFaultTests : IAsyncLifetime
{
    private AgentHarness _h = null!;

    public async Task InitializeAsync() => _h = await AgentHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public void A_full_disk_is_a_local_fault_and_not_a_higher_system_that_cannot_be_reached()
    {
        var full = new IOException("No space left on device : '/var/lib/jp1dist/x.part'", OperatingSystem.IsWindows() ? unchecked((int)0x80070070) : 28);
        var broken = new IOException("The response ended prematurely.");

        Assert.True(LocalFault.IsDiskFull(full));
        Assert.Equal(LocalFaultKind.DiskFull, LocalFault.Of(full)?.Kind);
        Assert.Equal("/var/lib/jp1dist/x.part", LocalFault.Of(full)?.Path);
        Assert.False(HigherSystemClient.IsTransient(full));
        Assert.False(HigherSystemClient.IsTransient(new LocalFaultException(LocalFault.Classify(full, "/x", "writing"))));
        // A broken connection and an answer that is not the protocol's are still the higher system's, tried again later.
        Assert.Null(LocalFault.Of(broken));
        Assert.True(HigherSystemClient.IsTransient(broken));
        Assert.True(HigherSystemClient.IsTransient(new MalformedAnswerException("work", new System.Text.Json.JsonException("bad"))));
        if (OperatingSystem.IsWindows())
        {
            Assert.True(LocalFault.IsDiskFull(new IOException("handle disk full", unchecked((int)0x80070027))));
        }
    }

    [Fact]
    public void Each_fault_is_worded_with_its_path_and_what_to_do()
    {
        var full = LocalFault.Classify(new IOException("No space left on device", OperatingSystem.IsWindows() ? unchecked((int)0x80070070) : 28), "/s/a.part", "writing")
            with { FreeBytes = 4096 };
        Assert.Equal("The disk is full: writing '/s/a.part' needs 1,048,576 bytes more, and 4,096 bytes are free on its volume.", full.WithNeeded(1024 * 1024).Message);
        Assert.Equal("Free space on that volume, then execute the job again.", full.Advice);

        var denied = LocalFault.Classify(new UnauthorizedAccessException("Access to the path '/s/x' is denied."), "/s/x", "writing");
        Assert.Equal(LocalFaultKind.PermissionDenied, denied.Kind);
        Assert.Equal($"Permission denied: writing '/s/x' is not allowed (the account '{Environment.UserName}' may not write there).", denied.Message);
        if (!OperatingSystem.IsWindows())
        {
            var readOnly = LocalFault.Classify(new IOException("Read-only file system", 30), "/s/x", "writing");
            Assert.Equal("Permission denied: writing '/s/x' is not allowed (the file system is read-only).", readOnly.Message);
        }

        var folder = Path.Combine(_h.Folder.Root, "blocked");
        File.WriteAllText(folder, "a file where a folder is needed");
        var blocked = Assert.Throws<LocalFaultException>(() => LocalFault.CreateFolder(Path.Combine(folder, "staging"), "the staging folder")).Fault;
        Assert.Equal(LocalFaultKind.FolderNotCreatable, blocked.Kind);
        Assert.Equal($"A folder cannot be created: creating the staging folder '{Path.Combine(folder, "staging")}' failed: '{folder}' is a file, not a folder.", blocked.Message);

        var room = Assert.Throws<LocalFaultException>(() => LocalFault.EnsureRoom(_h.Folder.Root, long.MaxValue / 2, "downloading the package into")).Fault;
        Assert.Equal(LocalFaultKind.DiskFull, room.Kind);
        Assert.StartsWith($"Not enough disk space: downloading the package into '{_h.Folder.Root}' needs ", room.Message, StringComparison.Ordinal);
        Assert.Contains("(1,048,576 bytes of them kept free for the node's own state)", room.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_program_that_cannot_be_started_is_told_missing_or_not_executable()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the error codes below are Unix's; Windows maps its own in the same switch
        }
        var notExecutable = Path.Combine(_h.Folder.Root, "setup.sh");
        File.WriteAllText(notExecutable, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(notExecutable, UnixFileMode.UserRead | UnixFileMode.UserWrite); // no x bit: refused even to root
        var garbage = Path.Combine(_h.Folder.Root, "garbage");
        File.WriteAllText(garbage, "not a program");
        File.SetUnixFileMode(garbage, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        Assert.Equal("The install command 'jp1dist-no-such-installer' was not found: no such program on this computer's PATH.",
            StartFault("jp1dist-no-such-installer").Message);
        Assert.Equal("The install command '/no/such/setup.sh' was not found: no such file.", StartFault("/no/such/setup.sh").Message);
        var denied = StartFault(notExecutable);
        Assert.Equal((LocalFaultKind.CommandNotExecutable, $"The install command '{notExecutable}' cannot be run: it is not executable for the account '{Environment.UserName}'."),
            (denied.Kind, denied.Message));
        Assert.Equal($"The install command '{garbage}' cannot be run: it is not a program this system can run.", StartFault(garbage).Message);

        static LocalFault StartFault(string command)
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo(command) { UseShellExecute = false });
                process?.WaitForExit();
                throw new InvalidOperationException($"'{command}' started");
            }
            catch (Win32Exception e)
            {
                return LocalFault.ForStart(e, command, "the install command");
            }
        }
    }

    [Fact]
    public async Task A_missing_or_not_executable_install_command_fails_the_target_naming_it_and_the_agent_goes_on()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        using var agent = await RegisteredAsync("pc-cmd");
        await PackageAsync("Missing", "jp1dist-no-such-installer");
        await _h.ExecuteAsync(new NewJobRequest("Missing", "Missing", null, ["pc-cmd"]));
        var notExecutable = _h.Folder.WriteFile("tools/setup.sh", "#!/bin/sh\nexit 0\n"); // a program the client has, without its x bit
        File.SetUnixFileMode(notExecutable, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await PackageAsync("Denied", notExecutable);
        await _h.ExecuteAsync(new NewJobRequest("Denied", "Denied", null, ["pc-cmd"]));

        await agent.RunOnceAsync(default);

        var missing = await _h.StatusAsync("Missing");
        Assert.Equal(TargetStatus.Failed, missing.Status);
        Assert.StartsWith("The install command 'jp1dist-no-such-installer' was not found: no such program on this computer's PATH. Check the package's install command",
            missing.Message, StringComparison.Ordinal);
        var denied = await _h.StatusAsync("Denied");
        Assert.Equal(TargetStatus.Failed, denied.Status);
        Assert.StartsWith($"The install command '{notExecutable}' cannot be run: it is not executable for the account", denied.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(State("pc-cmd"), "work"), "staging", SearchOption.AllDirectories));

        await ExecuteGoodJobAsync(agent, "pc-cmd");
    }

    [Fact]
    public async Task A_staging_folder_that_cannot_be_created_fails_the_target_naming_what_is_in_the_way()
    {
        using var agent = await RegisteredAsync("pc-staging");
        await _h.PackageAsync("App");
        var workItem = await ExecuteAsync("J", "App", "pc-staging");
        // A file where the staging folder must go (left by someone, or a name clash on a case-insensitive volume).
        var ticketFolder = Path.Combine(State("pc-staging"), "work", workItem.ToString("N"));
        Directory.CreateDirectory(ticketFolder);
        var blocker = Path.Combine(ticketFolder, "staging");
        File.WriteAllText(blocker, "in the way");

        await agent.RunOnceAsync(default);

        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.Failed, status.Status);
        Assert.Equal($"A folder cannot be created: creating the staging folder '{blocker}' failed: '{blocker}' is a file, not a folder. "
            + "Remove what is in the way or give the node a state folder it can use, then execute the job again.", status.Message);
        Assert.False(Directory.Exists(Path.Combine(ticketFolder, "download")), "the download folder was left behind");
        Assert.Equal(0, _h.InstallCount());

        await ExecuteGoodJobAsync(agent, "pc-staging");
    }

    [Fact]
    public async Task A_download_folder_the_agent_may_not_write_fails_the_target_with_permission_denied()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // made read-only below with Unix means
        }
        using var agent = await RegisteredAsync("pc-denied");
        await _h.PackageAsync("App");
        var workItem = await ExecuteAsync("J", "App", "pc-denied");
        var download = Path.Combine(State("pc-denied"), "work", workItem.ToString("N"), "download");
        Directory.CreateDirectory(download);
        using (ReadOnlyFolder.Make(download))
        {
            await agent.RunOnceAsync(default);
        }

        var status = await _h.StatusAsync("J");
        Assert.Equal(TargetStatus.Failed, status.Status);
        Assert.StartsWith($"Permission denied: opening '{download}{Path.DirectorySeparatorChar}", status.Message, StringComparison.Ordinal);
        // The folder it may not write it cannot empty either: the message says so instead of claiming it clean.
        Assert.Contains($".part' is not allowed (the account '{Environment.UserName}' may not write there). Its files in '{Path.GetDirectoryName(download)}' could not all be removed. "
            + $"Give the account '{Environment.UserName}' write access there", status.Message, StringComparison.Ordinal);
        Assert.Equal(0, status.BytesTransferred);

        await ExecuteGoodJobAsync(agent, "pc-denied");
    }

    private string State(string name) => Path.Combine(_h.Folder.Root, "agent-" + name);

    private async Task<AgentRuntime> RegisteredAsync(string name)
    {
        var agent = await _h.AgentAsync(name, _h.Handler());
        await agent.RunOnceAsync(default);
        return agent;
    }

    private Task<DistPackage> PackageAsync(string name, string installCommand) =>
        _h.Folder.Engine.Packages.CreateAsync(new NewPackageRequest(name, "1.0", Path.Combine(_h.Folder.Root, "pkg"), installCommand, SegmentSize: AgentHarness.SegmentSize));

    /// <summary>Executes a job for one host and returns its work item (the ticket the agent will receive).</summary>
    private async Task<Guid> ExecuteAsync(string job, string package, string host)
    {
        await _h.ExecuteAsync(new NewJobRequest(job, package, null, [host]));
        await using var db = _h.Folder.Engine.Database.CreateContext();
        var jobId = await db.Jobs.AsNoTracking().Where(j => j.Name == job).Select(j => j.Id).SingleAsync();
        return await db.Targets.AsNoTracking().Where(t => t.JobId == jobId).Select(t => t.WorkItemId).SingleAsync();
    }

    /// <summary>The agent that met a fault takes its next work as usual.</summary>
    private async Task ExecuteGoodJobAsync(AgentRuntime agent, string host)
    {
        await _h.PackageAsync("Good");
        await _h.ExecuteAsync(new NewJobRequest("Good", "Good", null, [host]));
        await agent.RunOnceAsync(default);
        Assert.Equal(TargetStatus.Succeeded, (await _h.StatusAsync("Good")).Status);
    }

    /// <summary>
    /// A folder nobody may create files in. Root passes permission bits, so as root the folder is made immutable
    /// (chattr +i: refused to root as well) instead of chmod 0500; undone on dispose, whatever the test did.
    /// </summary>
    private sealed class ReadOnlyFolder : IDisposable
    {
        private readonly string _path;
        private readonly bool _immutable;

        private ReadOnlyFolder(string path, bool immutable)
        {
            _path = path;
            _immutable = immutable;
        }

        [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
        public static ReadOnlyFolder Make(string path)
        {
            if (Environment.IsPrivilegedProcess)
            {
                Run("chattr", "+i", path);
                return new ReadOnlyFolder(path, immutable: true);
            }
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            return new ReadOnlyFolder(path, immutable: false);
        }

        public void Dispose()
        {
            if (_immutable)
            {
                Run("chattr", "-i", _path);
            }
            else if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        private static void Run(string program, params string[] arguments)
        {
            using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true, UseShellExecute = false })!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}");
            }
        }
    }
}
