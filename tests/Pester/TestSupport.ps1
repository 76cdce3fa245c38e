# Shared setup for the JP1Dist Pester files: the built module, the jp1dist executable, a scratch data folder,
# and agents as real child processes. Dot-source it from BeforeAll. Only .NET APIs are used for files and
# processes, so the files pass both under Pester in pwsh and under the repository's hosted runner.

$script:RepoRoot = [IO.Path]::GetFullPath([IO.Path]::Combine($PSScriptRoot, '..', '..'))
$script:Jp1Dist = [IO.Path]::Combine($RepoRoot, 'out', 'jp1dist', $(if ($IsWindows) { 'jp1dist.exe' } else { 'jp1dist' }))
Import-Module ([IO.Path]::Combine($RepoRoot, 'out', 'JP1Dist', 'JP1Dist.psd1')) -Force

# Remote mode: with JP1DIST_TEST_MANAGER_URI, JP1DIST_TEST_ACCESS_KEY (an Administrator's) and JP1DIST_TEST_CERTIFICATE_PIN
# set, as PesterRemoteFilesTests sets them, the session connects to that manager and every cmdlet goes through its admin
# API; the same files then prove that a connected session behaves as a local one. JP1DIST_TEST_MANAGER_HOME names that
# manager's data folder for the few checks of what it keeps on disk. Unset, the files act on a local data folder.
$script:Remote = [bool]$env:JP1DIST_TEST_MANAGER_URI
$script:RemoteManagerHome = $env:JP1DIST_TEST_MANAGER_HOME
if ($Remote) {
    $script:RemoteConnection = Connect-DistManager -Uri $env:JP1DIST_TEST_MANAGER_URI -AccessKey $env:JP1DIST_TEST_ACCESS_KEY -CertificatePin $env:JP1DIST_TEST_CERTIFICATE_PIN
}

# Who the audit log names for this session's changes, and from where: the local user, or the access key and its address.
$script:AuditPrincipal = if ($Remote) { $RemoteConnection.Principal } elseif ($IsWindows) { "$([Environment]::UserDomainName)\$([Environment]::UserName)" } else { [Environment]::UserName }
$script:AuditSource = if ($Remote) { '127.0.0.1' } else { 'local' }

# Inside an It: skips it in remote mode, with the reason (what it needs of the local computer).
function Skip-WhenRemote([Parameter(Mandatory)] [string] $Because) {
    if ($script:Remote) { Set-ItResult -Skipped -Because $Because }
}

# The manager the file works with: one that Start-DistManager starts on this computer, or in remote mode the one connected
# to (its URL and pin, as Start-DistManager returns them). -Listen is used locally only.
function Start-TestManager([string] $Listen = 'http://127.0.0.1:0') {
    if (-not $script:Remote) { return Start-DistManager -Listen $Listen }
    $running = @(Get-DistManager)
    if ($running.Count -ne 1) { throw "Remote mode: expected one running manager, found $($running.Count)." }
    $running[0]
}

# Stops the manager Start-TestManager started here; in remote mode the test run owns the manager and stops it itself.
function Stop-TestManager {
    if (-not $script:Remote -and (Get-DistManager)) { Stop-DistManager }
}

# The data folder of the manager in use, for checks of files it keeps.
function Get-TestManagerHome {
    if ($script:Remote) { $script:RemoteManagerHome } else { $env:JP1DIST_HOME }
}

function New-TestFolder([string] $Prefix) {
    $path = [IO.Path]::Combine([IO.Path]::GetTempPath(), "jp1dist-$Prefix-" + [Guid]::NewGuid().ToString('N').Substring(0, 8))
    [void][IO.Directory]::CreateDirectory($path)
    $path
}

function Remove-TestFolder([string] $Path) {
    # In remote mode nothing may have gone to the session's own data folder, which the engine creates on first use.
    if ($script:Remote -and $env:JP1DIST_HOME -and [IO.Directory]::Exists($env:JP1DIST_HOME)) {
        throw "Remote mode, yet the local data folder $env:JP1DIST_HOME was created: a cmdlet did not go to the manager."
    }
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
    # In remote mode the manager is on HTTPS: an agent talking to it directly is held to its pin, as the token would hold it.
    if (-not $CertificatePin -and $script:Remote -and $ManagerUrl.TrimEnd('/') -eq $env:JP1DIST_TEST_MANAGER_URI.TrimEnd('/')) { $CertificatePin = $env:JP1DIST_TEST_CERTIFICATE_PIN }
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

# The examples of the cmdlet help (docs/cmdlets/*-*.md, the source of the help XML): one object per example with its
# cmdlet, title, key ("New-DistJob Example 1") and statements. A statement is a line after the prompt "PS C:\> " with
# the lines that continue it; the other lines are output. An example without a prompt is a script: all of it is code.
function Get-HelpExample {
    $incomplete = {
        param([string] $Code)
        $tokens = $null; $errors = $null
        [void][Management.Automation.Language.Parser]::ParseInput($Code, [ref] $tokens, [ref] $errors)
        @($errors | Where-Object IncompleteInput).Count -gt 0
    }
    $files = [IO.Directory]::GetFiles([IO.Path]::Combine($script:RepoRoot, 'docs', 'cmdlets'), '*-*.md')
    [Array]::Sort($files, [StringComparer]::Ordinal)
    foreach ($file in $files) {
        $cmdlet = [IO.Path]::GetFileNameWithoutExtension($file)
        $examples = [regex]::Matches([IO.File]::ReadAllText($file).Replace("`r`n", "`n"), '(?ms)^### (Example[^\n]*)\n```powershell\n(.*?)```')
        foreach ($example in $examples) {
            $statements = [Collections.Generic.List[string]]::new()
            $current = $null
            foreach ($line in $example.Groups[2].Value.Split("`n")) {
                if ($line.StartsWith('PS C:\> ')) {
                    if ($null -ne $current) { $statements.Add($current) }
                    $current = $line.Substring(7)
                } elseif ($null -ne $current -and (& $incomplete $current)) {
                    $current += "`n" + $line
                } elseif ($null -ne $current) {
                    $statements.Add($current); $current = $null
                }
            }
            if ($null -ne $current) { $statements.Add($current) }
            if ($statements.Count -eq 0) { $statements.Add($example.Groups[2].Value) }
            $title = $example.Groups[1].Value
            [pscustomobject]@{
                Cmdlet     = $cmdlet
                Title      = $title
                Key        = "$cmdlet $($title.Split(':')[0])"
                Statements = $statements.ToArray()
            }
        }
    }
}
