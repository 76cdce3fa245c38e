#Requires -Version 7.6
<#
.SYNOPSIS
    JP1Dist quick start: the remote-installation procedure end to end on one computer.

.DESCRIPTION
    Walks the guide's procedure with the embedded default (an in-process engine on a SQLite file; no
    server to install):
      1. start a manager for this session,
      2. start a few local agents (each with its own name and state folder, as separate computers would),
      3. package a sample,
      4. create a job for every agent and execute it,
      5. show the status table (one host fails on purpose),
      6. fix the cause and re-execute only the failure: Get-DistJobStatus -Status Failed | Restart-DistJob.

    Runs under pwsh (Import-Module finds out/JP1Dist) and on a computer without pwsh:
        dotnet run --project src/AgentHost -- run examples/quickstart.ps1

.PARAMETER Agents
    How many local agents to start (2 to 20).

.PARAMETER KeepData
    Keep the scratch data folder (database, content, logs) instead of removing it at the end.
#>
[CmdletBinding()]
param(
    [ValidateRange(2, 20)]
    [int] $Agents = 3,
    [switch] $KeepData
)

$ErrorActionPreference = 'Stop'
$repo = [IO.Path]::GetFullPath([IO.Path]::Combine($PSScriptRoot, '..'))
if (-not (Get-Module -Name JP1Dist)) {
    Import-Module ([IO.Path]::Combine($repo, 'out', 'JP1Dist', 'JP1Dist.psd1'))
}
$jp1dist = [IO.Path]::Combine($repo, 'out', 'jp1dist', $(if ($IsWindows) { 'jp1dist.exe' } else { 'jp1dist' }))

# A scratch data folder keeps the quick start repeatable; JP1DIST_HOME is how any session picks its data folder.
$scratch = [IO.Path]::Combine([IO.Path]::GetTempPath(), 'jp1dist-quickstart-' + [Guid]::NewGuid().ToString('N').Substring(0, 8))
$previousHome = $env:JP1DIST_HOME
$env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
$agentProcesses = @()

try {
    Write-Host "== 1. Start a manager for this session (data folder $env:JP1DIST_HOME)"
    $manager = Start-DistManager -Listen 'http://127.0.0.1:0'
    $manager | Out-Host

    Write-Host "== 2. Start $Agents agents; each registers with an enrollment token"
    $token = New-DistEnrollmentToken -Description 'quick start'
    $names = 1..$Agents | ForEach-Object { 'pc{0:d2}' -f $_ }
    foreach ($name in $names) {
        $start = [Diagnostics.ProcessStartInfo]::new($jp1dist)
        foreach ($argument in @('agent', '--manager', $manager.Url, '--token', $token.Token, '--name', $name,
                                 '--state', [IO.Path]::Combine($scratch, "agent-$name"))) {
            $start.ArgumentList.Add($argument)
        }
        $start.RedirectStandardOutput = $true   # each agent logs to its own state folder too
        $start.RedirectStandardError = $true
        $agentProcesses += [Diagnostics.Process]::Start($start)
    }
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while (@(Get-DistHost).Count -lt $Agents) {
        if ([DateTime]::UtcNow -gt $deadline) { throw 'The agents did not register within 60 seconds.' }
        Start-Sleep -Milliseconds 200
    }
    Get-DistHost | Out-Host

    Write-Host '== 3. Package a sample (its install command fails on a host that has a marker file)'
    $source = [IO.Path]::Combine($scratch, 'sample')
    $markers = [IO.Path]::Combine($scratch, 'markers')
    [void][IO.Directory]::CreateDirectory($source)
    [void][IO.Directory]::CreateDirectory($markers)
    [IO.File]::WriteAllText([IO.Path]::Combine($source, 'readme.txt'), "Sample application payload`n")
    if ($IsWindows) {
        $installer = 'install.cmd'
        [IO.File]::WriteAllText([IO.Path]::Combine($source, $installer),
            "@echo off`r`nif exist `"%~1\broken-%JP1DIST_HOST_NAME%`" (echo disk full on %JP1DIST_HOST_NAME% & exit /b 3)`r`necho installed %JP1DIST_PACKAGE_NAME% %JP1DIST_PACKAGE_VERSION% on %JP1DIST_HOST_NAME%`r`n")
    }
    else {
        $installer = 'install.sh'
        [IO.File]::WriteAllText([IO.Path]::Combine($source, $installer),
            "#!/bin/sh`nif [ -e `"`$1/broken-`$JP1DIST_HOST_NAME`" ]; then echo `"disk full on `$JP1DIST_HOST_NAME`"; exit 3; fi`necho `"installed `$JP1DIST_PACKAGE_NAME `$JP1DIST_PACKAGE_VERSION on `$JP1DIST_HOST_NAME`"`n")
    }
    $broken = $names[-1]
    [IO.File]::WriteAllText([IO.Path]::Combine($markers, "broken-$broken"), '')
    New-DistPackage -Name 'Sample App' -Version '1.0.0' -Path $source -InstallCommand $installer -InstallArguments $markers | Out-Host

    Write-Host '== 4. Create a job for every host and execute it'
    New-DistJob -Name 'Deploy Sample' -Package 'Sample App' -Destination $names | Out-Host
    Start-DistJob -Name 'Deploy Sample' | Out-Host
    Wait-DistJob -Name 'Deploy Sample' -Timeout 120

    Write-Host '== 5. The status of every (job, host)'
    Get-DistJobStatus -Job 'Deploy Sample' | Out-Host

    Write-Host "== 6. Fix $broken and re-execute only what failed"
    [IO.File]::Delete([IO.Path]::Combine($markers, "broken-$broken"))
    Get-DistJobStatus -Job 'Deploy Sample' -Status Failed | Restart-DistJob | Out-Host
    Wait-DistJob -Name 'Deploy Sample' -Timeout 120
    Get-DistJobStatus -Job 'Deploy Sample' | Out-Host

    $failed = @(Get-DistJobStatus -Job 'Deploy Sample' -Status Failed)
    if ($failed.Count -gt 0) { throw "$($failed.Count) host(s) still failed." }
    Write-Host "Quick start complete: 'Sample App' is installed on $($names.Count) hosts; $broken needed one re-execution."
}
finally {
    foreach ($process in $agentProcesses) {
        if (-not $process.HasExited) { $process.Kill($true); $process.WaitForExit() }
        $process.Dispose()
    }
    if (Get-DistManager) { Stop-DistManager }
    $env:JP1DIST_HOME = $previousHome
    if (-not $KeepData) {
        [IO.Directory]::Delete($scratch, $true)
    }
    else {
        Write-Host "Data kept in $scratch"
    }
}
