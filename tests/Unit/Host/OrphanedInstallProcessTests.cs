using System.Text.Json;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Core.Storage;
using JP1Dist.Protocol;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A real `jp1dist agent` killed with SIGKILL while its install command runs, under a real manager on 127.0.0.1, and
/// started again on the same state folder. The install command waits for a gate file the test creates, so the order of
/// events is the test's, not the clock's. The command runs once in every case; the status tells how it really ended:
/// still running at the restart (waited for), ended while the agent was down (its recorded code), or killed with the
/// agent (Failed, saying that no record was left).
/// </summary>
public sealed class OrphanedInstallProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "jp1dist-orphan-" + Guid.NewGuid().ToString("N")[..8]);
    private DistEngine _engine = null!;
    private NodeProcess? _manager;
    private NodeProcess? _agent;
    private string _url = "";

    private string State => Path.Combine(_root, "agent");
    private string Log => Path.Combine(_root, "installed.log");
    private string Gate => Path.Combine(_root, "gate");

    public async Task InitializeAsync()
    {
        var home = Path.Combine(_root, "home");
        _engine = TestDatabase.Engine(home);
        _manager = NodeProcess.Start(null, "manager", "--listen", "http://127.0.0.1:0", "--home", home);
        _url = (await Eventually.ForAsync(async () => (await _engine.Managers.ListAsync()).FirstOrDefault(m => m.ProcessId == _manager.Process.Id && m.IsAlive),
            "the manager announced itself", _manager)).Url;
    }

    public async Task DisposeAsync()
    {
        // An install command left waiting by a failed test ends: its gate opens, and its wrapper is stopped.
        File.WriteAllText(Gate, "");
        if (_agent is not null)
        {
            output.WriteLine(await _agent.StopAsync());
            _agent.Dispose();
        }
        foreach (var record in Directory.Exists(State) ? Directory.EnumerateFiles(State, "started.json", SearchOption.AllDirectories) : [])
        {
            JsonSerializer.Deserialize<InstallStarted>(File.ReadAllText(record), ProtocolJson.Options)?.Wrapper.Kill();
        }
        _manager?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task An_install_still_running_when_the_agent_restarts_is_waited_for_and_reported_as_it_ended()
    {
        await StartInstallAndKillAgentAsync("Still running", exitCode: 0, entireTree: false);

        StartAgent();
        await Eventually.ForAsync(() => Task.FromResult(AgentLog().Contains("still running (install wrapper, process", StringComparison.Ordinal)),
            "the new agent found the install command still running", _agent);
        File.WriteAllText(Gate, ""); // the installer ends only now, with the new agent waiting for it
        var final = await FinalAsync("Still running");

        Assert.Equal(TargetStatus.Succeeded, final.Status);
        Assert.Equal(0, final.ExitCode);
        Assert.StartsWith("The install command exited with code 0.", final.Message, StringComparison.Ordinal);
        Assert.Contains("the install command went on, and this is how it ended", final.Message, StringComparison.Ordinal);
        Assert.Equal(["start Still running", "end Still running"], File.ReadAllLines(Log));
    }

    [Fact]
    public async Task An_install_that_ended_while_the_agent_was_down_is_reported_with_its_exit_code()
    {
        await StartInstallAndKillAgentAsync("Ended meanwhile", exitCode: 3010, entireTree: false);

        File.WriteAllText(Gate, "");
        await Eventually.ForAsync(() => Task.FromResult(Directory.EnumerateFiles(State, "ended.json", SearchOption.AllDirectories).Any()),
            "the orphaned install command ended and its end was recorded", _manager);
        StartAgent();
        var final = await FinalAsync("Ended meanwhile");

        // 3010 arrives as 194 where exit codes are 8 bits, and is read as the reboot code it is.
        Assert.Equal(TargetStatus.SucceededRebootRequired, final.Status);
        Assert.Contains("a reboot code", final.Message, StringComparison.Ordinal);
        Assert.Contains("the install command went on, and this is how it ended", final.Message, StringComparison.Ordinal);
        Assert.Equal(["start Ended meanwhile", "end Ended meanwhile"], File.ReadAllLines(Log));
    }

    [Fact]
    public async Task An_install_killed_with_the_agent_is_failed_saying_that_it_left_no_record_and_is_not_run_again()
    {
        await StartInstallAndKillAgentAsync("Killed too", exitCode: 0, entireTree: true);

        StartAgent();
        var final = await FinalAsync("Killed too");

        Assert.Equal(TargetStatus.Failed, final.Status);
        Assert.Null(final.ExitCode);
        Assert.StartsWith("The agent stopped while the install command was running, and the command ended without a record of how", final.Message, StringComparison.Ordinal);
        File.WriteAllText(Gate, "");
        Assert.Equal(["start Killed too"], File.ReadAllLines(Log)); // not run again
    }

    /// <summary>
    /// A package whose install command logs its start, waits for the gate and logs its end; its job executed on a new
    /// agent, which is killed with SIGKILL once the command runs (alone, or with its whole process tree).
    /// </summary>
    private async Task StartInstallAndKillAgentAsync(string job, int exitCode, bool entireTree)
    {
        var folder = Path.Combine(_root, "package");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "install.sh"),
            "#!/bin/sh\necho \"start $JP1DIST_JOB_NAME\" >> \"$1\"\nwhile [ ! -e \"$2\" ]; do sleep 0.1; done\n"
            + $"echo \"end $JP1DIST_JOB_NAME\" >> \"$1\"\nexit {exitCode}\n");
        await _engine.Packages.CreateAsync(new NewPackageRequest("Gated", "1.0", folder, "install.sh", [Log, Gate], InstallTimeoutSeconds: 300));
        var token = (await _engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("orphan test"))).Token!;
        _agent = NodeProcess.Start(null, "agent", "--manager", _url, "--token", token, "--name", "pc-orphan", "--state", State);
        await Eventually.ForAsync(async () => (await _engine.Hosts.ListAsync("pc-orphan")).Count == 1, "the agent registered", _agent);
        await _engine.Jobs.CreateAsync(new NewJobRequest(job, "Gated", null, ["pc-orphan"]));
        await _engine.Jobs.StartAsync(job);
        await Eventually.ForAsync(() => Task.FromResult(File.Exists(Log) && File.ReadAllLines(Log).Length == 1), "the install command started", _agent);

        _agent.Process.Kill(entireProcessTree: entireTree);
        output.WriteLine(await _agent.OutputAsync());
        _agent.Dispose();
        _agent = null;
        Assert.Equal(TargetStatus.Installing, (await _engine.Jobs.GetStatusAsync(new JobStatusQuery(job))).Single().Status);
    }

    /// <summary>What the agents wrote to their log files so far (read while they write).</summary>
    private string AgentLog()
    {
        var logs = Path.Combine(State, "logs");
        return !Directory.Exists(logs) ? "" : string.Concat(Directory.EnumerateFiles(logs).Select(file =>
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return new StreamReader(stream).ReadToEnd();
        }));
    }

    private void StartAgent() =>
        _agent = NodeProcess.Start(null, "agent", "--manager", _url, "--name", "pc-orphan", "--state", State);

    private async Task<DistJobStatus> FinalAsync(string job)
    {
        var final = await Eventually.ForAsync(async () => (await _engine.Jobs.GetStatusAsync(new JobStatusQuery(job))).SingleOrDefault(s => s.Status.IsFinal()),
            $"job {job} final", _agent);
        output.WriteLine($"{final.Status} ({final.ExitCode}): {final.Message}");
        return final;
    }
}
