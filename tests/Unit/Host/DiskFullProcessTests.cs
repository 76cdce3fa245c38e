using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A real `jp1dist agent` process whose state folder is a 4 MiB file system of its own, under a real manager on
/// 127.0.0.1: a package larger than the volume fails before a byte is written; a disk filled by another program during a
/// transfer fails the target naming the full disk, and the partial file is removed at once (the space comes back); the
/// agent never takes either for an unreachable manager, keeps running, and installs the next package.
/// </summary>
public sealed class DiskFullProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const long VolumeBytes = 4 * 1024 * 1024;
    private const long SegmentSize = 64 * 1024;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-diskfull-" + Guid.NewGuid().ToString("N")[..8]);
    private DistEngine _engine = null!;
    private NodeProcess? _manager;
    private NodeProcess? _agent;
    private SmallVolume? _volume;
    private string _url = "";

    public async Task InitializeAsync()
    {
        if (SmallVolume.Unavailable is not null)
        {
            return; // skipped: see SmallVolumeFact
        }
        var home = Path.Combine(_root, "home");
        _engine = TestDatabase.Engine(home);
        _manager = NodeProcess.Start(null, "manager", "--listen", "http://127.0.0.1:0", "--home", home);
        _url = (await Eventually.ForAsync(async () => (await _engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == _manager.Process.Id && m.IsAlive),
            "the manager announced itself", _manager)).Url;
        _volume = SmallVolume.Mount(Path.Combine(_root, "agent-state"), VolumeBytes);
    }

    public async Task DisposeAsync()
    {
        // The agent first: it holds files on the volume, which is unmounted before the folder is removed.
        if (_agent is not null)
        {
            output.WriteLine(await _agent.StopAsync());
            _agent.Dispose();
        }
        _manager?.Dispose();
        _volume?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [SmallVolumeFact]
    public async Task A_disk_that_fills_up_fails_the_target_naming_it_frees_the_partial_file_and_the_agent_goes_on()
    {
        var volume = _volume!;
        var token = (await _engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("disk full test"))).Token!;
        _agent = NodeProcess.Start(null, "agent", "--manager", _url, "--token", token, "--name", "pc-full", "--state", volume.Path);
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-full")).Count == 1, "the agent registered", _agent);

        // Larger than the volume: refused before anything is written, with what it needs and what is free.
        await PackageAndJobAsync("TooBig", 5 * 1024 * 1024);
        var tooBig = await FinalAsync("TooBig");
        output.WriteLine(tooBig.Message);
        Assert.Equal(TargetStatus.Failed, tooBig.Status);
        Assert.StartsWith($"Not enough disk space: downloading the package into '{volume.Path}{Path.DirectorySeparatorChar}work{Path.DirectorySeparatorChar}", tooBig.Message, StringComparison.Ordinal);
        Assert.Contains("Free space on that volume, then execute the job again.", tooBig.Message, StringComparison.Ordinal);
        Assert.Empty(PartialFiles());

        // Fits at first; another program fills the disk while it arrives (held to 256 KB/s so it is still arriving).
        await PackageAndJobAsync("FillsUp", 2 * 1024 * 1024, bandwidthKBps: 256);
        await Eventually.ForAsync(() => Task.FromResult(PartialFiles().Any(f => new FileInfo(f).Length >= 2 * SegmentSize)), "the transfer under way", _agent);
        var filler = volume.Fill();
        output.WriteLine($"filled the volume: {new FileInfo(filler).Length} bytes written, {volume.Free} bytes free");
        var filled = await FinalAsync("FillsUp");
        output.WriteLine(filled.Message);
        Assert.Equal(TargetStatus.Failed, filled.Status);
        Assert.StartsWith($"The disk is full: writing '{volume.Path}{Path.DirectorySeparatorChar}work{Path.DirectorySeparatorChar}", filled.Message, StringComparison.Ordinal);
        Assert.Matches(@"needs [\d,]+ bytes more, and [\d,]+ bytes are free on its volume\. Its partial files \([\d,]+ bytes\) were removed\. Free space on that volume", filled.Message);
        Assert.Empty(PartialFiles()); // removed at once, not kept to fill the disk
        Assert.False(_agent.Process.HasExited, "the agent ended");

        // Space freed: the same agent process takes the next job.
        File.Delete(filler);
        await PackageAndJobAsync("Small", 16 * 1024);
        var small = await FinalAsync("Small");
        Assert.Equal(TargetStatus.Succeeded, small.Status);
        Assert.Equal(["Small"], File.ReadAllLines(Path.Combine(_root, "installed.log")));
        Assert.False(_agent.Process.HasExited, "the agent ended");

        var log = await _agent.StopAsync();
        Assert.Contains("DiskFull on this computer", log, StringComparison.Ordinal);
        Assert.DoesNotContain("is not reachable", log, StringComparison.Ordinal);
    }

    private IEnumerable<string> PartialFiles() => Directory.EnumerateFiles(_volume!.Path, "*.part", SearchOption.AllDirectories);

    /// <summary>A package of an install script and a payload of <paramref name="payloadBytes"/> random bytes, and its job for the agent, executed.</summary>
    private async Task PackageAndJobAsync(string name, int payloadBytes, int bandwidthKBps = 0)
    {
        var folder = Path.Combine(_root, "packages", name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "install.sh"), $"#!/bin/sh\necho {name} >> \"$1\"\n");
        File.WriteAllBytes(Path.Combine(folder, "payload.bin"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(payloadBytes));
        await _engine.Packages.CreateAsync(new NewPackageRequest(name, "1.0", folder, "install.sh", [Path.Combine(_root, "installed.log")], SegmentSize: SegmentSize));
        await _engine.Jobs.CreateAsync(new NewJobRequest(name, name, null, ["pc-full"], BandwidthLimitKBps: bandwidthKBps));
        await _engine.Jobs.StartAsync(name);
    }

    private async Task<DistJobStatus> FinalAsync(string job) =>
        await Eventually.ForAsync(async () => (await _engine.Jobs.GetStatusAsync(new JobStatusQuery(job))).SingleOrDefault(s => s.Status.IsFinal()),
            $"job {job} final", _agent);
}
