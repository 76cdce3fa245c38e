using JP1Dist.Contracts;
using JP1Dist.Core;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Host;

/// <summary>
/// A session elsewhere: `jp1dist run` scripts whose own data folder is empty act on a real HTTPS manager through its admin
/// API (Connect-DistManager, then the JP1DIST_MANAGER_URI variables of a runbook), package, create, execute and wait for a
/// job that a real agent installs, and the manager's audit log names the access key for each change.
/// </summary>
public sealed class RemoteSessionProcessTests(HttpsManagerFixture manager, ITestOutputHelper output) : IClassFixture<HttpsManagerFixture>
{
    private DistEngine Engine => manager.Engine;

    [Fact]
    public async Task A_connected_session_packages_executes_and_waits_for_a_job_that_an_agent_installs()
    {
        var tokenFile = Path.Combine(manager.Root, "pc-remote.token");
        File.WriteAllText(tokenFile, await manager.NewTokenTextAsync() + "\n");
        var state = Path.Combine(manager.Root, "agent-pc-remote");
        Assert.Equal(0, (await RunAsync(null, "agent", "--manager", manager.Url, "--token-file", tokenFile, "--name", "pc-remote", "--state", state, "--once")).ExitCode);

        var key = await Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest("workstation", DistRole.Administrator));
        var log = Path.Combine(manager.Root, "installed-remote.log");
        var package = Path.Combine(manager.Root, "package-remote");
        Directory.CreateDirectory(package);
        File.WriteAllText(Path.Combine(package, "install.sh"), "#!/bin/sh\necho \"$JP1DIST_HOST_NAME $JP1DIST_PACKAGE_NAME\" >> \"$1\"\n");
        var home = Path.Combine(manager.Root, "workstation-home"); // the session's own data folder: never used
        Directory.CreateDirectory(home);
        var result = Path.Combine(manager.Root, "remote-result.txt");
        var connect = Path.Combine(manager.Root, "connect.ps1");
        File.WriteAllText(connect, $$"""
            $ErrorActionPreference = 'Stop'
            $connection = Connect-DistManager -Uri '{{manager.Url}}' -AccessKey $env:TEST_KEY -CertificatePin '{{manager.Pin}}'
            $package = New-DistPackage -Name RemoteApp -Version 1.0 -Path '{{package}}' -InstallCommand install.sh -InstallArguments '{{log}}'
            New-DistJob -Name 'Remote install' -PackageName RemoteApp -Destination pc-remote | Out-Null
            Start-DistJob -Name 'Remote install' -WhatIf
            if (Get-DistJobStatus -JobName 'Remote install') { throw 'WhatIf executed the job' }
            Get-DistJob -Name 'Remote install' | Start-DistJob | Out-Null
            try { Get-DistJob -Name 'No such job' -ErrorAction Stop } catch { $missing = $_.FullyQualifiedErrorId + '/' + $_.CategoryInfo.Category }
            try { Start-DistManager } catch { $local = $_.FullyQualifiedErrorId }
            $now = Get-DistManager -Connection
            [IO.File]::WriteAllText('{{result}}', "$($connection.Principal)|$($connection.Role)|$($package.Name)|$missing|$local|$($now.Remote)")
            Disconnect-DistManager
            """);
        var environment = new Dictionary<string, string?> { ["JP1DIST_HOME"] = home, ["TEST_KEY"] = key.Key };
        Assert.Equal(0, (await RunAsync(environment, "run", connect)).ExitCode);
        Assert.Equal("workstation|Administrator|RemoteApp|JobNotFound,JP1Dist.PowerShell.Cmdlets.GetDistJobCommand/ObjectNotFound|ManagerConnected,JP1Dist.PowerShell.Cmdlets.StartDistManagerCommand|True",
            File.ReadAllText(result));

        // The agent installs; a runbook that names the manager in its environment waits for the outcome.
        Assert.Equal(0, (await RunAsync(null, "agent", "--manager", manager.Url, "--name", "pc-remote", "--state", state, "--once")).ExitCode);
        var wait = Path.Combine(manager.Root, "wait.ps1");
        File.WriteAllText(wait, $$"""
            $ErrorActionPreference = 'Stop'
            $status = Wait-DistJob -Name 'Remote install' -Timeout 300 -PassThru
            $audit = Get-DistAuditLog -Principal workstation | ForEach-Object { $_.Operation }
            [IO.File]::WriteAllText('{{result}}', "$($status.Status)|$((Get-DistManager -Connection).Via)|$($audit -join ',')")
            """);
        environment = new Dictionary<string, string?>
        {
            ["JP1DIST_HOME"] = home, ["JP1DIST_MANAGER_URI"] = manager.Url, ["JP1DIST_ACCESS_KEY"] = key.Key, ["JP1DIST_CERTIFICATE_PIN"] = manager.Pin,
        };
        Assert.Equal(0, (await RunAsync(environment, "run", wait)).ExitCode);
        Assert.Equal("Succeeded|JP1DIST_MANAGER_URI|Start-DistJob,New-DistJob,New-DistPackage", File.ReadAllText(result));
        Assert.Equal(["pc-remote RemoteApp"], File.ReadAllLines(log));

        // Every change under the key's name, from the address the manager saw; the session's own folder stayed empty.
        var entries = await Engine.Audit.ListAsync(new AuditQuery(Principal: "workstation"));
        Assert.All(entries, e => Assert.Equal(("127.0.0.1", AuditOutcome.Succeeded), (e.Source, e.Outcome)));
        Assert.Empty(Directory.GetFileSystemEntries(home));
        // No secret in any log of the manager.
        foreach (var file in Directory.GetFiles(Path.Combine(manager.Root, "home", "logs")))
        {
            using var reader = new StreamReader(new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            Assert.DoesNotContain(key.Key!.Split('.')[2], await reader.ReadToEndAsync(), StringComparison.Ordinal);
        }
    }

    private async Task<(int ExitCode, string Output)> RunAsync(Dictionary<string, string?>? environment, params string[] arguments)
    {
        using var node = NodeProcess.Start(environment, arguments);
        var exitCode = await node.WaitAsync(TimeSpan.FromSeconds(300));
        var text = await node.OutputAsync();
        output.WriteLine($"jp1dist {string.Join(' ', arguments)} → {exitCode}\n{text}");
        return (exitCode, text);
    }
}
