# Runbooks: every cmdlet that changes something, run as an unattended script runs it. A second runspace of this process
# has no user interface (any prompt there fails with HostFunctionNotImplemented instead of waiting for someone), its
# $ConfirmPreference is Low (the strictest: every ShouldProcess would prompt), and each change passes -Confirm:$false,
# with -Force where a cmdlet would otherwise refuse. The scenario goes in the order a real runbook would (tokens,
# approval, packages, groups, jobs, start, restart, suspend, resume, stop, offline media, a user's install, power,
# the signing key, the removal of everything, the session, the manager) with a manager and agents as real processes,
# and checks that nothing prompted and that each change happened. The file fails if a changing cmdlet of the module
# is left out of the scenario.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'runbooks'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $packageFolder = [IO.Path]::Combine($scratch, 'package')
    $installer = New-TestPackageFolder $packageFolder $logs
    $pcState = [IO.Path]::Combine($scratch, 'agent-rb-pc')
    $shutdownLog = [IO.Path]::Combine($scratch, 'shutdown.log')
    $shutdown = if ($IsWindows) { @('--shutdown-command', 'cmd.exe', '--shutdown-arguments', '/c', "echo shutdown>> `"$shutdownLog`"") }
                else { @('--shutdown-command', 'sh', '--shutdown-arguments', '-c', "echo shutdown >> '$shutdownLog'") }
    $manager = Start-TestManager
    $agents = @{}
    # What the scenario shares between its steps, and which cmdlets it ran unattended (or skipped, with the reason).
    $run = @{}
    $covered = @{}
    $skipped = @{}

    # Every cmdlet that changes something: all but Get- and Wait-.
    $changing = @(Get-Command -Module JP1Dist -CommandType Cmdlet | Where-Object { $_.Verb -notin 'Get', 'Wait' })

    # A runspace without a host of its own: the default host, whose user interface cannot prompt.
    $unattended = [runspacefactory]::CreateRunspace([initialsessionstate]::CreateDefault2())
    $unattended.Open()

    # Runs a script in that runspace; returns its output and every error record (non-terminating, and the terminating one).
    function Invoke-Unattended([string] $Script, [hashtable] $With = @{}) {
        foreach ($name in $With.Keys) { $unattended.SessionStateProxy.SetVariable($name, $With[$name]) }
        $shell = [powershell]::Create()
        try {
            $shell.Runspace = $unattended
            [void]$shell.AddScript($Script)
            $errors = [Collections.Generic.List[object]]::new()
            $output = @()
            try {
                $output = @($shell.Invoke())
            } catch {
                $thrown = $_.Exception.InnerException
                $errors.Add($(if ($thrown -is [Management.Automation.IContainsErrorRecord]) { $thrown.ErrorRecord } else { $_ }))
            }
            foreach ($record in $shell.Streams.Error) { $errors.Add($record) }
            [pscustomobject]@{ Output = $output; Errors = @($errors) }
        } finally {
            $shell.Dispose()
        }
    }

    # The error records of a result that are prompts the host could not show.
    function Get-PromptError($Result) {
        @($Result.Errors | Where-Object { $_.Exception -is [Management.Automation.Host.HostException] -or "$($_.FullyQualifiedErrorId)" -like 'HostFunctionNotImplemented,*' })
    }

    # One step of the runbook: runs it unattended, fails on any prompt and on any error but the refusals named in
    # -Refusal (by error id, in order), and counts the module's cmdlets it names as covered when it ran clean.
    function Invoke-Step([string] $Script, [hashtable] $With = @{}, [string[]] $Refusal = @()) {
        $result = Invoke-Unattended $Script $With
        $prompts = Get-PromptError $result
        $prompts.Count | Should -Be 0 -Because "nothing may prompt under -Confirm:`$false: $(($prompts | ForEach-Object { $_.Exception.Message }) -join ' | ')"
        $ids = @($result.Errors | ForEach-Object { "$($_.FullyQualifiedErrorId)".Split(',')[0] })
        ($ids -join ', ') | Should -Be ($Refusal -join ', ') -Because "the step's errors: $(($result.Errors | ForEach-Object { "$($_.FullyQualifiedErrorId): $($_.Exception.Message)" }) -join ' | ')"
        if ($Refusal.Count -eq 0) {
            $ast = [Management.Automation.Language.Parser]::ParseInput($Script, [ref] $null, [ref] $null)
            foreach ($command in $ast.FindAll({ param($node) $node -is [Management.Automation.Language.CommandAst] }, $true)) {
                $name = $command.GetCommandName()
                if ($name -and $changing.Name -contains $name) { $covered[$name] = $true }
            }
        }
        $result.Output
    }

    function Wait-Until([scriptblock] $Condition, [string] $What, [int] $Seconds = 90) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while (-not (& $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Not within $Seconds s: $What" }
            [Threading.Thread]::Sleep(200)
        }
    }

    function Get-Status([string] $Job, [string] $HostName) { "$((Get-DistJobStatus -Job $Job -HostName $HostName).Status)" }

    # Runs the jp1dist executable to its end (bounded) and returns its exit code and output.
    function Invoke-Jp1Dist([string[]] $Arguments) {
        $start = [Diagnostics.ProcessStartInfo]::new($Jp1Dist)
        foreach ($argument in $Arguments) { $start.ArgumentList.Add($argument) }
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $start.UseShellExecute = $false
        $process = [Diagnostics.Process]::Start($start)
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit(120000)) { $process.Kill($true); throw "jp1dist $($Arguments[0]) did not finish within 120 s." }
        $process.WaitForExit()
        [pscustomobject]@{ ExitCode = $process.ExitCode; Output = $stdout.Result + $stderr.Result }
    }

    [void](Invoke-Unattended "Import-Module '$([IO.Path]::Combine($RepoRoot, 'out', 'JP1Dist', 'JP1Dist.psd1'))'")
    [void](Invoke-Unattended "`$ConfirmPreference = 'Low'")
    if ($Remote) {
        # Before anything else, or the runspace would act on its own data folder.
        Invoke-Step 'Connect-DistManager -Uri $uri -AccessKey $key -CertificatePin $pin | Out-Null' @{
            uri = $env:JP1DIST_TEST_MANAGER_URI; key = $env:JP1DIST_TEST_ACCESS_KEY; pin = $env:JP1DIST_TEST_CERTIFICATE_PIN
        } | Out-Null
    }
}

AfterAll {
    foreach ($agent in $agents.Values) { Stop-TestAgent $agent }
    Stop-TestManager
    if ($unattended) {
        if (-not $Remote) { [void](Invoke-Unattended 'if (Get-DistManager) { Stop-DistManager -Confirm:$false }') }
        $unattended.Dispose()
    }
    Remove-TestFolder $scratch
}

Describe 'Confirmation settings of the changing cmdlets' {
    It 'asks for ShouldProcess with the impact PowerShell conventions give (High removes, revokes or rotates; Low creates what acts on nothing yet)' {
        $expected = @{
            'Add-DistHostGroupMember' = 'Medium'; 'Add-DistIdGroupMember' = 'Medium'; 'Approve-DistHost' = 'Medium'; 'Deny-DistHost' = 'High'
            'Export-DistOfflineMedia' = 'Low'; 'Import-DistOfflineResult' = 'Medium'; 'Install-DistAvailablePackage' = 'Medium'
            'New-DistAccessKey' = 'Medium'; 'New-DistEnrollmentToken' = 'Medium'; 'New-DistHostGroup' = 'Low'; 'New-DistIdGroup' = 'Low'
            'New-DistJob' = 'Low'; 'New-DistPackage' = 'Low'
            'Remove-DistAccessKey' = 'High'; 'Remove-DistEnrollmentToken' = 'High'; 'Remove-DistHost' = 'High'; 'Remove-DistHostGroup' = 'High'
            'Remove-DistHostGroupMember' = 'High'; 'Remove-DistIdGroup' = 'High'; 'Remove-DistIdGroupMember' = 'High'; 'Remove-DistJob' = 'High'
            'Remove-DistPackage' = 'High'; 'Restart-DistJob' = 'Medium'; 'Resume-DistJob' = 'Medium'; 'Set-DistPackage' = 'Medium'
            'Set-DistIdGroupPolicy' = 'Medium'; 'Start-DistHost' = 'Medium'; 'Start-DistJob' = 'Medium'; 'Start-DistManager' = 'Medium'
            'Stop-DistHost' = 'Medium'; 'Stop-DistJob' = 'High'; 'Stop-DistManager' = 'Medium'; 'Suspend-DistJob' = 'Medium'
            'Update-DistSigningKey' = 'High'
            # They change what this session acts on, nothing on a manager: no -WhatIf, no -Confirm.
            'Connect-DistManager' = 'None'; 'Disconnect-DistManager' = 'None'
        }
        foreach ($command in $changing) {
            $expected.ContainsKey($command.Name) | Should -BeTrue -Because "$($command.Name) needs a decided confirmation impact"
            $cmdlet = $command.ImplementingType.GetCustomAttributes([Management.Automation.CmdletAttribute], $true)[0]
            if ($expected[$command.Name] -eq 'None') {
                $cmdlet.SupportsShouldProcess | Should -BeFalse -Because $command.Name
                continue
            }
            $cmdlet.SupportsShouldProcess | Should -BeTrue -Because "$($command.Name) changes something"
            "$($cmdlet.ConfirmImpact)" | Should -Be $expected[$command.Name] -Because $command.Name
        }
        $changing.Count | Should -Be $expected.Count
    }

    It 'has -Force only where a cmdlet refuses a dangerous case, and says in the help which refusal it overrides' {
        $forced = @($changing | Where-Object { $_.Parameters.ContainsKey('Force') } | ForEach-Object { $_.Name })
        ($forced -join ', ') | Should -Be 'Remove-DistHost, Remove-DistJob, Remove-DistPackage'
        $refusals = @{ 'Remove-DistHost' = 'HostBusy'; 'Remove-DistJob' = 'JobActive'; 'Remove-DistPackage' = 'PackageInUse' }
        foreach ($name in $forced) {
            $help = Get-Help $name
            $force = @($help.parameters.parameter | Where-Object { $_.name -eq 'Force' })[0]
            "$($force.description | ForEach-Object { $_.Text })" | Should -BeLike "*$($refusals[$name])*" -Because "the -Force help of $name names the refusal"
            "$($force.description | ForEach-Object { $_.Text })" | Should -BeLike '*-Confirm:$false*' -Because "the -Force help of $name says it does not stand in for -Confirm:`$false"
        }
    }
}

Describe 'A runspace without a user interface' {
    It 'fails a prompt at once instead of waiting: without -Confirm:$false under ConfirmPreference Low, a creation prompts, and a removal prompts even under the default High' {
        $prompted = Invoke-Unattended "New-DistHostGroup -Name 'rb-prompt'"
        @(Get-PromptError $prompted).Count | Should -Be 1
        @(Get-DistHostGroup | Where-Object { $_.Name -eq 'rb-prompt' }).Count | Should -Be 0

        Invoke-Step "New-DistHostGroup -Name 'rb-prompt' -Confirm:`$false" | Out-Null
        $removal = Invoke-Unattended "`$ConfirmPreference = 'High'; try { Remove-DistHostGroup -Name 'rb-prompt' } finally { `$ConfirmPreference = 'Low' }"
        @(Get-PromptError $removal).Count | Should -Be 1
        @(Get-DistHostGroup | Where-Object { $_.Name -eq 'rb-prompt' }).Count | Should -Be 1
        "$(Invoke-Unattended '$ConfirmPreference' | ForEach-Object { $_.Output })" | Should -Be 'Low'

        Invoke-Step "Remove-DistHostGroup -Name 'rb-prompt' -Confirm:`$false" | Out-Null
        @(Get-DistHostGroup | Where-Object { $_.Name -eq 'rb-prompt' }).Count | Should -Be 0
    }
}

Describe 'A runbook, unattended from start to end' {
    It 'makes enrollment tokens and an access key; agents enroll, one is approved and one denied' {
        $made = Invoke-Step @'
New-DistEnrollmentToken -Description 'rb plain' -Confirm:$false
New-DistEnrollmentToken -Description 'rb approval' -RequireApproval -Confirm:$false
New-DistAccessKey -Name 'rb-operator' -Role Operator -Confirm:$false
'@
        $made.Count | Should -Be 3
        $run.Tokens = @($made[0].Id, $made[1].Id)
        $run.AccessKey = $made[2].Key
        @(Get-DistEnrollmentToken | Where-Object { $_.Description -like 'rb *' }).Count | Should -Be 2
        @(Get-DistAccessKey -Name 'rb-operator').Count | Should -Be 1

        $agents['rb-pc'] = Start-TestAgent -ManagerUrl $manager.Url -Token $made[0].Token -Name 'rb-pc' -StateFolder $pcState `
            -ExtraArguments ($shutdown + @('--power-grace-seconds', '0'))
        $agents['rb-approved'] = Start-TestAgent -ManagerUrl $manager.Url -Token $made[1].Token -Name 'rb-approved' -StateFolder ([IO.Path]::Combine($scratch, 'agent-rb-approved'))
        $agents['rb-denied'] = Start-TestAgent -ManagerUrl $manager.Url -Token $made[1].Token -Name 'rb-denied' -StateFolder ([IO.Path]::Combine($scratch, 'agent-rb-denied'))
        Wait-Until { @(Get-DistHost -Name 'rb-pc' -ErrorAction SilentlyContinue).Count -eq 1 -and @(Get-DistHost -Pending).Count -eq 2 } 'rb-pc enrolled, two computers wait for approval'

        # A change writes nothing without -PassThru, a removal nothing at all.
        Invoke-Step @'
Approve-DistHost -Name 'rb-approved' -Confirm:$false
Deny-DistHost -Name 'rb-denied' -Confirm:$false
'@ | Should -BeNullOrEmpty
        (Get-DistHost -Name 'rb-approved').Name | Should -Be 'rb-approved'
        @(Get-DistHost -Pending).Count | Should -Be 0
        $agents['rb-denied'].WaitForExit(90000) | Should -BeTrue
        # The approved computer goes off the network: its work waits, for offline media and for the -Force cases below.
        Stop-TestAgent $agents['rb-approved']
    }

    It 'registers packages, sets an expiry, and builds host and ID groups' {
        Invoke-Step @'
New-DistPackage -Name 'RbApp' -Version '1.0' -Path $folder -InstallCommand $installer -InstallArguments $logs -Confirm:$false | Out-Null
New-DistPackage -Name 'RbApp' -Version '2.0' -Path $folder -InstallCommand $installer -InstallArguments $logs -Confirm:$false | Out-Null
Set-DistPackage -Name 'RbApp' -Version '1.0' -ExpiresAt $expires -Confirm:$false
New-DistHostGroup -Name 'rb-hosts' -Confirm:$false | Out-Null
Add-DistHostGroupMember -Group 'rb-hosts' -HostName 'rb-pc' -Confirm:$false
New-DistIdGroup -Name 'rb-ids' -Confirm:$false | Out-Null
Add-DistIdGroupMember -IdGroup 'rb-ids' -HostName 'rb-pc' -Confirm:$false
Set-DistIdGroupPolicy -IdGroup 'rb-ids' -Rule @{ HostName = 'rb-nobody-*' } -Confirm:$false
'@ @{ folder = $packageFolder; installer = $installer; logs = $logs; expires = [DateTime]::Now.AddDays(30) } | Should -BeNullOrEmpty
        @(Get-DistPackage -Name 'RbApp').Count | Should -Be 2
        (Get-DistPackage -Name 'RbApp' -Version '1.0').ExpiresAt | Should -Not -BeNullOrEmpty
        (Get-DistHostGroup -Name 'rb-hosts').Hosts | Should -Be @('rb-pc')
        @(Get-DistIdGroup -Name 'rb-ids').Count | Should -Be 1
        @(Get-DistIdGroupPolicy -IdGroup 'rb-ids').Count | Should -BeGreaterThan 0
    }

    It 'executes a job that fails, then re-executes the failure once it is fixed' {
        [IO.File]::WriteAllText([IO.Path]::Combine($logs, 'broken-rb-pc'), '')
        Invoke-Step @'
New-DistJob -Name 'rb-install' -Package 'RbApp' -PackageVersion '1.0' -HostGroup 'rb-hosts' -Confirm:$false | Out-Null
Start-DistJob -Name 'rb-install' -Confirm:$false | Out-Null
'@ | Out-Null
        Wait-DistJob -Name 'rb-install' -Timeout 120 | Out-Null
        Get-Status 'rb-install' 'rb-pc' | Should -Be 'Failed'

        [IO.File]::Delete([IO.Path]::Combine($logs, 'broken-rb-pc'))
        Invoke-Step "Restart-DistJob -Name 'rb-install' -Confirm:`$false | Out-Null" | Out-Null
        Wait-Until { (Get-Status 'rb-install' 'rb-pc') -eq 'Succeeded' } 'rb-install re-executed on rb-pc'
        @(Get-InstallLog $logs 'rb-pc').Count | Should -Be 1
    }

    It 'suspends, resumes and stops a job whose host is away' {
        Invoke-Step @'
New-DistJob -Name 'rb-later' -Package 'RbApp' -PackageVersion '1.0' -Destination 'rb-approved' -Confirm:$false | Out-Null
Start-DistJob -Name 'rb-later' -Confirm:$false | Out-Null
'@ | Out-Null
        Wait-Until { (Get-Status 'rb-later' 'rb-approved') -eq 'Queued' } 'rb-later dispatched'
        Invoke-Step "Suspend-DistJob -Name 'rb-later' -Confirm:`$false" | Should -BeNullOrEmpty
        Get-Status 'rb-later' 'rb-approved' | Should -Be 'Suspended'
        $resumed = @(Invoke-Step "Resume-DistJob -Name 'rb-later' -Confirm:`$false -PassThru")
        "$($resumed.Status)" | Should -Be 'Queued'
        Get-Status 'rb-later' 'rb-approved' | Should -Be 'Queued'
        Invoke-Step "Stop-DistJob -Name 'rb-later' -Confirm:`$false" | Should -BeNullOrEmpty
        Get-Status 'rb-later' 'rb-approved' | Should -Be 'Canceled'
    }

    It 'carries an install to the computer that is away on offline media, and imports its result' {
        $media = [IO.Path]::Combine($scratch, 'media')
        Invoke-Step @'
New-DistJob -Name 'rb-offline' -Package 'RbApp' -PackageVersion '1.0' -Destination 'rb-approved' -Confirm:$false | Out-Null
Start-DistJob -Name 'rb-offline' -Confirm:$false | Out-Null
'@ | Out-Null
        # The manager dispatches the job within a second; media are made for a target that waits for its host.
        Wait-Until { (Get-Status 'rb-offline' 'rb-approved') -eq 'Queued' } 'rb-offline dispatched'
        Invoke-Step "Export-DistOfflineMedia -Job 'rb-offline' -HostName 'rb-approved' -Path `$media -Confirm:`$false | Out-Null" @{ media = $media } | Out-Null
        $fingerprint = @(Get-DistSigningKey -State Current)[0].Fingerprint
        $installed = Invoke-Jp1Dist @('offline', '--media', $media, '--state', [IO.Path]::Combine($scratch, 'offline-state'), '--name', 'rb-approved', '--signing-key', $fingerprint)
        $installed.ExitCode | Should -Be 0 -Because $installed.Output
        Invoke-Step "Import-DistOfflineResult -Path `$media -Confirm:`$false" @{ media = $media } | Should -BeNullOrEmpty
        Get-Status 'rb-offline' 'rb-approved' | Should -Be 'Succeeded'
        @(Get-InstallLog $logs 'rb-approved').Count | Should -Be 1
    }

    It "offers a package that the computer's user installs unattended" {
        Invoke-Step @'
New-DistJob -Name 'rb-offer' -Package 'RbApp' -PackageVersion '2.0' -Destination 'rb-pc' -Type UserChoice -Confirm:$false | Out-Null
Start-DistJob -Name 'rb-offer' -Confirm:$false | Out-Null
'@ | Out-Null
        Wait-Until { (Get-Status 'rb-offer' 'rb-pc') -eq 'Available' } 'rb-offer available on rb-pc'
        Invoke-Step "Install-DistAvailablePackage -Name 'RbApp' -StatePath `$state -Confirm:`$false | Out-Null" @{ state = $pcState } | Out-Null
        Wait-Until { (Get-Status 'rb-offer' 'rb-pc') -eq 'Succeeded' } 'the chosen install reported'
        @(Get-InstallLog $logs 'rb-pc').Count | Should -Be 2
    }

    It 'wakes a host and has it shut down' {
        $udp = [Net.Sockets.UdpClient]::new([Net.IPEndPoint]::new([Net.IPAddress]::Loopback, 0))
        try {
            $woken = Invoke-Step "Start-DistHost -Name 'rb-pc' -BroadcastAddress 127.0.0.1 -Port `$port -Confirm:`$false -PassThru -WarningAction SilentlyContinue" @{ port = $udp.Client.LocalEndPoint.Port }
            "$($woken[0].Outcome)" | Should -BeIn @('Sent', 'NoMacAddress')
        } finally {
            $udp.Dispose()
        }
        $asked = Invoke-Step "Stop-DistHost -Name 'rb-pc' -GraceSeconds 0 -Confirm:`$false -PassThru"
        "$($asked[0].State)" | Should -Be 'Requested'
        Wait-Until { (Get-DistHost -Name 'rb-pc').PowerStatus -match 'Shutdown done' } 'the agent ran its shutdown command'
    }

    It 'replaces the signing key' {
        $before = @(Get-DistSigningKey -State Current)[0].Fingerprint
        Invoke-Step 'Update-DistSigningKey -Confirm:$false' | Should -BeNullOrEmpty
        @(Get-DistSigningKey -State Current)[0].Fingerprint | Should -Not -Be $before
        @(Get-DistSigningKey -State Retiring).Fingerprint | Should -Contain $before
    }

    It 'is refused, not prompted, where only -Force may remove, and removes with -Force' {
        Invoke-Step @'
New-DistJob -Name 'rb-hold-job' -Package 'RbApp' -PackageVersion '1.0' -Destination 'rb-approved' -Confirm:$false | Out-Null
New-DistJob -Name 'rb-hold-package' -Package 'RbApp' -PackageVersion '2.0' -Destination 'rb-approved' -Confirm:$false | Out-Null
New-DistJob -Name 'rb-hold-host' -Package 'RbApp' -PackageVersion '1.0' -Destination 'rb-approved' -Confirm:$false | Out-Null
Start-DistJob -Name 'rb-hold-job', 'rb-hold-package', 'rb-hold-host' -Confirm:$false | Out-Null
'@ | Out-Null

        Invoke-Step "Remove-DistJob -Name 'rb-hold-job' -Confirm:`$false" -Refusal 'JobActive' | Out-Null
        @(Get-DistJob | Where-Object { $_.Name -eq 'rb-hold-job' }).Count | Should -Be 1
        Invoke-Step "Remove-DistJob -Name 'rb-hold-job' -Force -Confirm:`$false" | Out-Null
        @(Get-DistJob | Where-Object { $_.Name -eq 'rb-hold-job' }).Count | Should -Be 0

        Invoke-Step "Remove-DistPackage -Name 'RbApp' -Version '2.0' -Confirm:`$false" -Refusal 'PackageInUse' | Out-Null
        @(Get-DistPackage -Name 'RbApp' -Version '2.0').Count | Should -Be 1
        Invoke-Step "Remove-DistPackage -Name 'RbApp' -Version '2.0' -Force -Confirm:`$false" | Out-Null
        @(Get-DistPackage -Name 'RbApp').Version | Should -Be @('1.0')
        @(Get-DistJob | Where-Object { $_.Name -in 'rb-hold-package', 'rb-offer' }).Count | Should -Be 0

        Invoke-Step "Remove-DistHost -Name 'rb-approved' -Confirm:`$false" -Refusal 'HostBusy' | Out-Null
        @(Get-DistHost -Name 'rb-approved').Count | Should -Be 1
        Invoke-Step "Remove-DistHost -Name 'rb-approved' -Force -Revoke -Confirm:`$false" | Out-Null
        @(Get-DistHost | Where-Object { $_.Name -eq 'rb-approved' }).Count | Should -Be 0
    }

    It 'connects a session with the access key and disconnects it, then removes the key' {
        if ($Remote) {
            # Connected since the first step; a connected session cannot connect through the key it made from inside itself.
            Invoke-Step "Remove-DistAccessKey -Name 'rb-operator' -Confirm:`$false" | Out-Null
        } else {
            $connection = Invoke-Step @'
Connect-DistManager -Uri $uri -AccessKey $key | Out-Null
Get-DistManager -Connection
Disconnect-DistManager -PassThru
Remove-DistAccessKey -Name 'rb-operator' -Confirm:$false
'@ @{ uri = $manager.Url; key = $run.AccessKey }
            $connection.Count | Should -Be 2
            $connection[0].Remote | Should -BeTrue
            "$($connection[0].Location)".TrimEnd('/') | Should -Be "$($manager.Url)".TrimEnd('/')
            $connection[1].Remote | Should -BeFalse
        }
        @(Get-DistAccessKey | Where-Object { $_.Name -eq 'rb-operator' }).Count | Should -Be 0
    }

    It 'removes everything it made' {
        Invoke-Step @'
Get-DistJob | Remove-DistJob -Force -Confirm:$false
Get-DistPackage | Remove-DistPackage -Force -Confirm:$false
Remove-DistHostGroupMember -Group 'rb-hosts' -HostName 'rb-pc' -Confirm:$false
Remove-DistHostGroup -Name 'rb-hosts' -Confirm:$false
Remove-DistIdGroupMember -IdGroup 'rb-ids' -HostName 'rb-pc' -Confirm:$false
Remove-DistIdGroup -Name 'rb-ids' -Confirm:$false
Remove-DistHost -Name 'rb-pc' -Revoke -Confirm:$false
Remove-DistEnrollmentToken -Id $tokens -Confirm:$false
'@ @{ tokens = [int[]]$run.Tokens } | Should -BeNullOrEmpty
        @(Get-DistHostGroup).Count | Should -Be 0
        @(Get-DistIdGroup).Count | Should -Be 0
        @(Get-DistHost).Count | Should -Be 0
        @(Get-DistJob).Count | Should -Be 0
        @(Get-DistPackage).Count | Should -Be 0
        @(Get-DistEnrollmentToken).Count | Should -Be 0
        if ($Remote) {
            # The last step of a connected runbook; without -PassThru, which would open the local data folder to describe it.
            Invoke-Step 'Disconnect-DistManager' | Out-Null
        }
    }

    It 'stops the manager and starts and stops one of its own' {
        if ($Remote) {
            $skipped['Start-DistManager'] = 'a connected session starts and stops no manager'
            $skipped['Stop-DistManager'] = 'a connected session starts and stops no manager'
        }
        Skip-WhenRemote -Because 'a connected session starts and stops no manager; the test run owns the remote one'
        Stop-TestManager
        $started = Invoke-Step @'
Start-DistManager -Listen 'http://127.0.0.1:0' -Confirm:$false
'@
        "$($started[0].Url)" | Should -BeLike 'http://127.0.0.1:*'
        @(Get-DistManager).Count | Should -Be 1
        Invoke-Step 'Stop-DistManager -Confirm:$false' | Out-Null
        @(Get-DistManager).Count | Should -Be 0
    }

    It 'left no changing cmdlet of the module out' {
        $missing = @($changing | Where-Object { -not $covered.ContainsKey($_.Name) -and -not $skipped.ContainsKey($_.Name) } | ForEach-Object { $_.Name })
        $missing.Count | Should -Be 0 -Because "every changing cmdlet runs unattended in the scenario; missing: $($missing -join ', ')"
    }
}
