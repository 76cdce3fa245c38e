# Shared setup for the JP1Dist Pester files: the built module, the jp1dist executable, a scratch data folder,
# and agents as real child processes. Dot-source it from BeforeAll. Only .NET APIs are used for files and
# processes, so the files pass both under Pester in pwsh and under the repository's hosted runner.

$script:RepoRoot = [IO.Path]::GetFullPath([IO.Path]::Combine($PSScriptRoot, '..', '..'))
$script:Jp1Dist = [IO.Path]::Combine($RepoRoot, 'out', 'jp1dist', $(if ($IsWindows) { 'jp1dist.exe' } else { 'jp1dist' }))
Import-Module ([IO.Path]::Combine($RepoRoot, 'out', 'JP1Dist', 'JP1Dist.psd1')) -Force

function New-TestFolder([string] $Prefix) {
    $path = [IO.Path]::Combine([IO.Path]::GetTempPath(), "jp1dist-$Prefix-" + [Guid]::NewGuid().ToString('N').Substring(0, 8))
    [void][IO.Directory]::CreateDirectory($path)
    $path
}

function Remove-TestFolder([string] $Path) {
    if ($Path -and [IO.Directory]::Exists($Path)) {
        try { [IO.Directory]::Delete($Path, $true) } catch { Write-Warning "Could not remove ${Path}: $_" }
    }
}

# Starts `jp1dist agent` as a child process; -Once waits for it (bounded) and returns its exit code.
function Start-TestAgent {
    param(
        [Parameter(Mandatory)] [string] $ManagerUrl,
        [Parameter(Mandatory)] [string] $Name,
        [Parameter(Mandatory)] [string] $StateFolder,
        [string] $Token,
        [string] $CertificatePin,
        [switch] $Once,
        [int] $TimeoutSeconds = 120,
        [string[]] $ExtraArguments = @()
    )
    $start = [Diagnostics.ProcessStartInfo]::new($script:Jp1Dist)
    $arguments = @('agent', '--manager', $ManagerUrl, '--name', $Name, '--state', $StateFolder)
    if ($Token) { $arguments += @('--token', $Token) }
    if ($CertificatePin) { $arguments += @('--certificate-pin', $CertificatePin) }
    if ($Once) { $arguments += '--once' }
    $arguments += $ExtraArguments
    foreach ($argument in $arguments) { $start.ArgumentList.Add($argument) }
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $start.UseShellExecute = $false
    $process = [Diagnostics.Process]::Start($start)
    if (-not $Once) { return $process }
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        $process.Kill($true)
        throw "Agent $Name did not finish within $TimeoutSeconds s."
    }
    $process.WaitForExit()
    [pscustomobject]@{ ExitCode = $process.ExitCode; Output = $stdout.Result + $stderr.Result }
}

function Stop-TestAgent($Process) {
    if ($Process -and -not $Process.HasExited) {
        $Process.Kill($true)
        [void]$Process.WaitForExit(10000)
    }
}

# A package folder whose install script logs every run to <log folder>/installed-<host>.log and fails
# with exit code 3 on a host that has <log folder>/broken-<host>.
function New-TestPackageFolder([string] $Folder, [string] $LogFolder) {
    [void][IO.Directory]::CreateDirectory($Folder)
    [void][IO.Directory]::CreateDirectory($LogFolder)
    [IO.File]::WriteAllText([IO.Path]::Combine($Folder, 'payload.txt'), 'payload')
    if ($IsWindows) {
        [IO.File]::WriteAllText([IO.Path]::Combine($Folder, 'install.cmd'), (@(
            '@echo off'
            'if exist "%~1\broken-%JP1DIST_HOST_NAME%" (echo broken on %JP1DIST_HOST_NAME% & exit /b 3)'
            'echo %JP1DIST_HOST_NAME%^|%JP1DIST_JOB_NAME%^|%JP1DIST_PACKAGE_NAME%^|%JP1DIST_PACKAGE_VERSION%^|%CD%>>"%~1\installed-%JP1DIST_HOST_NAME%.log"'
            'echo installed'
        ) -join "`r`n"))
        return 'install.cmd'
    }
    [IO.File]::WriteAllText([IO.Path]::Combine($Folder, 'install.sh'), (@(
        '#!/bin/sh'
        'if [ -e "$1/broken-$JP1DIST_HOST_NAME" ]; then echo "broken on $JP1DIST_HOST_NAME"; exit 3; fi'
        'echo "$JP1DIST_HOST_NAME|$JP1DIST_JOB_NAME|$JP1DIST_PACKAGE_NAME|$JP1DIST_PACKAGE_VERSION|$(pwd)" >> "$1/installed-$JP1DIST_HOST_NAME.log"'
        'echo installed'
    ) -join "`n"))
    'install.sh'
}

function Get-InstallLog([string] $LogFolder, [string] $HostName) {
    $path = [IO.Path]::Combine($LogFolder, "installed-$HostName.log")
    if ([IO.File]::Exists($path)) { @([IO.File]::ReadAllLines($path) | Where-Object { $_ }) } else { @() }
}
