using System.Text.Json;
using System.Text.Json.Nodes;
using JP1Dist.Contracts;
using JP1Dist.Core;
using JP1Dist.Protocol;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// Offline installation through real processes: a session elsewhere exports media for a host of an executed job, `jp1dist
/// offline` installs from them in a state folder of its own with no manager to talk to, and the session imports the signed
/// result, which the manager records as the host's report. Media for another host, tampered content, a tampered work item,
/// an untrusted key, a tampered result and a second import are each refused and change nothing.
/// </summary>
public sealed class OfflineMediaProcessTests(HttpsManagerFixture manager, ITestOutputHelper output) : IClassFixture<HttpsManagerFixture>
{
    private DistEngine Engine => manager.Engine;

    [Fact]
    public async Task Media_exported_installed_offline_and_imported_make_the_target_succeed_once()
    {
        var (job, log) = await ExecutedJobAsync("round");
        var key = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("offline-admin", DistRole.Administrator));
        var media = Path.Combine(manager.Root, "media-round");
        var exported = await SessionAsync(key.Key!, $"Export-DistOfflineMedia -Job '{job}' -HostName pc-offline -Path '{media}' | ForEach-Object {{ \"$($_.PackageName)|$($_.TotalBytes)\" }}");
        Assert.Equal(0, exported.ExitCode);
        Assert.True(File.Exists(Path.Combine(media, OfflineMediaFiles.Description)), exported.Output);

        // Installed on a computer with a state of its own and no manager: the operator gives the signing key's fingerprint.
        var state = Path.Combine(manager.Root, "offline-state-round");
        var installed = await RunAsync("offline", "--media", media, "--state", state, "--name", "pc-offline", "--signing-key", manager.SigningKey);
        Assert.True(installed.ExitCode == 0, installed.Output);
        Assert.Equal(["pc-offline offline-round"], File.ReadAllLines(log));
        Assert.Equal(TargetStatus.Queued, (await StatusAsync(job)).Status);

        // The media install once.
        var again = await RunAsync("offline", "--media", media, "--state", state, "--name", "pc-offline", "--signing-key", manager.SigningKey);
        Assert.Equal(2, again.ExitCode);
        Assert.Single(File.ReadAllLines(log));

        var imported = await SessionAsync(key.Key!, $"Import-DistOfflineResult -Path '{media}' -PassThru | ForEach-Object {{ \"$($_.Status)\" }}");
        Assert.True(imported.ExitCode == 0, imported.Output);
        var status = await StatusAsync(job);
        Assert.Equal((TargetStatus.Succeeded, 0), (status.Status, status.ExitCode));
        Assert.Contains("Installed offline on 'pc-offline'", status.Message, StringComparison.Ordinal);
        Assert.Contains(await Engine.Inventory.FindSoftwareAsync("offline-round", "pc-offline"), s => s.Version == "1.0");

        var twice = await SessionAsync(key.Key!, $"Import-DistOfflineResult -Path '{media}'");
        Assert.NotEqual(0, twice.ExitCode);
        Assert.Contains("OfflineResultAlreadyImported", twice.Output, StringComparison.Ordinal);
        var audit = await Engine.Audit.ListAsync(new AuditQuery(Principal: "offline-admin"));
        Assert.Equal(["Import-DistOfflineResult", "Export-DistOfflineMedia"], audit.Where(e => e.Outcome == AuditOutcome.Succeeded).Select(e => e.Operation));
        Assert.DoesNotContain(audit, e => e.Parameters.Contains("resultKey", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Media_for_another_host_tampered_media_and_untrusted_keys_are_refused_and_install_nothing()
    {
        var (job, log) = await ExecutedJobAsync("tamper");
        var media = Path.Combine(manager.Root, "media-tamper");
        var exported = await SessionAsync(null, $"Export-DistOfflineMedia -Job '{job}' -HostName pc-offline -Path '{media}' -Archive:$false | Out-Null");
        Assert.True(exported.ExitCode == 0, exported.Output);
        var state = Path.Combine(manager.Root, "offline-state-tamper");
        string[] trust = ["--signing-key", manager.SigningKey];

        await RefusedAsync("made for host 'pc-offline'", media, ["--state", state, "--name", "someone-else", .. trust]);
        await RefusedAsync("pins no signing key", media, ["--state", state, "--name", "pc-offline"]);
        await RefusedAsync("not with", media, ["--state", state, "--name", "pc-offline", "--signing-key", new string('a', 64)]);

        var tamperedContent = Copy(media, "content");
        var file = Directory.GetFiles(Path.Combine(tamperedContent, OfflineMediaFiles.Content)).OrderByDescending(f => new FileInfo(f).Length).First();
        var bytes = File.ReadAllBytes(file);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(file, bytes);
        await RefusedAsync("was changed", tamperedContent, ["--state", state, "--name", "pc-offline", .. trust]);

        var tamperedWork = Copy(media, "work");
        var description = JsonNode.Parse(File.ReadAllText(Path.Combine(tamperedWork, OfflineMediaFiles.Description)))!;
        var manifest = JsonNode.Parse(description["work"]!["manifest"]!.GetValue<string>())!;
        manifest["installCommand"] = "/bin/sh";
        description["work"]!["manifest"] = manifest.ToJsonString();
        File.WriteAllText(Path.Combine(tamperedWork, OfflineMediaFiles.Description), description.ToJsonString());
        await RefusedAsync("not signed", tamperedWork, ["--state", state, "--name", "pc-offline", .. trust]);
        Assert.False(File.Exists(log), "nothing was installed");

        // Installed with --any-host elsewhere; a result changed afterwards is refused at the import, the target unchanged.
        var installed = await RunAsync(["offline", "--media", media, "--state", state, "--name", "spare-pc", "--any-host", .. trust]);
        Assert.True(installed.ExitCode == 0, installed.Output);
        var resultPath = Path.Combine(media, OfflineMediaFiles.Result);
        File.WriteAllText(resultPath, File.ReadAllText(resultPath).Replace("\"Succeeded\"", "\"Failed\"", StringComparison.Ordinal));
        var imported = await SessionAsync(null, $"Import-DistOfflineResult -Path '{media}'");
        Assert.NotEqual(0, imported.ExitCode);
        Assert.Contains("OfflineResultSignatureInvalid", imported.Output, StringComparison.Ordinal);
        Assert.Equal(TargetStatus.Queued, (await StatusAsync(job)).Status);
    }

    [Fact]
    public async Task Media_exported_as_one_archive_are_installed_from_it_and_their_result_imported()
    {
        var (job, log) = await ExecutedJobAsync("archive");
        var archive = Path.Combine(manager.Root, "media-archive.zip");
        var exported = await SessionAsync(null, $"Export-DistOfflineMedia -Job '{job}' -HostName pc-offline -Path '{archive}' -Archive | Out-Null");
        Assert.True(exported.ExitCode == 0, exported.Output);
        Assert.True(File.Exists(archive));
        Assert.Empty(Directory.GetDirectories(manager.Root, ".media-archive*")); // nothing left beside it

        // A second export to the same file is refused and leaves the first as it was.
        var length = new FileInfo(archive).Length;
        var again = await SessionAsync(null, $"Export-DistOfflineMedia -Job '{job}' -HostName pc-offline -Path '{archive}' -Archive");
        Assert.Contains("OfflineMediaPathExists", again.Output, StringComparison.Ordinal);
        Assert.Equal(length, new FileInfo(archive).Length);

        var installed = await RunAsync("offline", "--media", archive, "--state", Path.Combine(manager.Root, "offline-state-archive"), "--name", "pc-offline",
            "--signing-key", manager.SigningKey);
        Assert.True(installed.ExitCode == 0, installed.Output);
        Assert.Equal(["pc-offline offline-archive"], File.ReadAllLines(log));
        var unpacked = archive[..^4];
        Assert.True(File.Exists(Path.Combine(unpacked, OfflineMediaFiles.Result)), "the result is written beside the archive, in the folder it was unpacked to");

        var imported = await SessionAsync(null, $"Import-DistOfflineResult -Path '{unpacked}' | Out-Null");
        Assert.True(imported.ExitCode == 0, imported.Output);
        Assert.Equal(TargetStatus.Succeeded, (await StatusAsync(job)).Status);
    }

    private async Task RefusedAsync(string reason, string media, string[] arguments)
    {
        var run = await RunAsync(["offline", "--media", media, .. arguments]);
        Assert.True(run.ExitCode == 2, run.Output);
        Assert.Contains(reason, run.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(media, OfflineMediaFiles.Result)));
    }

    private string Copy(string media, string suffix)
    {
        var copy = media + "-" + suffix;
        foreach (var source in Directory.GetFiles(media, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(media, source));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target);
        }
        return copy;
    }

    /// <summary>A registered host pc-offline (registered once per class), a package that logs its install, and an executed job whose target is queued.</summary>
    private async Task<(string Job, string Log)> ExecutedJobAsync(string name)
    {
        if ((await Engine.Hosts.ListAsync(new HostQuery("pc-offline"))).Count == 0)
        {
            var token = Path.Combine(manager.Root, "pc-offline.token");
            File.WriteAllText(token, await manager.NewTokenTextAsync() + "\n");
            var registered = await RunAsync("agent", "--manager", manager.Url, "--token-file", token, "--name", "pc-offline", "--state", Path.Combine(manager.Root, "agent-pc-offline"), "--once");
            Assert.True(registered.ExitCode == 0, registered.Output);
        }
        var log = Path.Combine(manager.Root, $"installed-{name}.log");
        var package = Path.Combine(manager.Root, $"package-{name}");
        Directory.CreateDirectory(package);
        File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
        File.WriteAllBytes(Path.Combine(package, "payload.bin"), new byte[300_000]);
        await Engine.Packages.CreateAsync(new NewPackageRequest($"offline-{name}", "1.0", package, "install.sh", [log], SegmentSize: 65536), null);
        var job = $"Offline {name}";
        await Engine.Jobs.CreateAsync(new NewJobRequest(job, $"offline-{name}", null, ["pc-offline"]));
        await Engine.Jobs.StartAsync(job);
        await Eventually.ForAsync(async () => (await StatusAsync(job)).Status == TargetStatus.Queued, $"job '{job}' dispatched");
        return (job, log);
    }

    private async Task<DistJobStatus> StatusAsync(string job) => (await Engine.Jobs.GetStatusAsync(new JobStatusQuery(job, "pc-offline"))).Single();

    /// <summary>A script in a session connected to the manager (with an Administrator key when none is given), whose own data folder is empty.</summary>
    private async Task<(int ExitCode, string Output)> SessionAsync(string? key, string command)
    {
        key ??= (await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("offline-admin-" + Guid.NewGuid().ToString("N")[..6], DistRole.Administrator))).Key!;
        var home = Path.Combine(manager.Root, "session-home-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(home);
        var script = Path.Combine(manager.Root, $"offline-{Guid.NewGuid():N}.ps1");
        File.WriteAllText(script, $$"""
            $ErrorActionPreference = 'Stop'
            try { {{command}} } catch { "refused $($_.FullyQualifiedErrorId): $($_.Exception.Message)"; exit 1 }
            """);
        var run = await RunAsync(new Dictionary<string, string?>
        {
            ["JP1DIST_HOME"] = home, ["JP1DIST_MANAGER_URI"] = manager.Url, ["JP1DIST_ACCESS_KEY"] = key, ["JP1DIST_CERTIFICATE_PIN"] = manager.Pin,
        }, "run", script);
        Assert.Empty(Directory.GetFileSystemEntries(home));
        return run;
    }

    private Task<(int ExitCode, string Output)> RunAsync(params string[] arguments) => RunAsync(null, arguments);

    private async Task<(int ExitCode, string Output)> RunAsync(Dictionary<string, string?>? environment, params string[] arguments)
    {
        using var node = NodeProcess.Start(environment, arguments);
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(300));
        var text = await node.OutputAsync();
        output.WriteLine($"jp1dist {string.Join(' ', arguments.Select(a => a.Length > 50 ? a[..12] + "…" : a))} → {exitCode}\n{text}");
        return (exitCode, text);
    }
}
