# Install conditions, install time, split transfer and suspend/resume through the cmdlets, with a manager and an
# agent as separate processes on 127.0.0.1.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'conditions'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $packageFolder = [IO.Path]::Combine($scratch, 'package')
    $installer = New-TestPackageFolder $packageFolder $logs
    # 12 segments of 4 KB, so that a paced transfer takes long enough to be suspended in the middle.
    [IO.File]::WriteAllBytes([IO.Path]::Combine($packageFolder, 'payload.bin'), [byte[]]::new(48KB))
    $os = if ($IsWindows) { 'Windows' } elseif ($IsMacOS) { 'macOS' } else { 'Linux' }
    $manager = Start-TestManager
    $token = New-DistEnrollmentToken -Description 'conditions test'
    $agent = Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -Name 'pc-a' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-a'))
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while (@(Get-DistHost).Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }

    function New-Package([string] $Name, [hashtable] $Condition, $InstallAt) {
        $arguments = @{ Name = $Name; Version = '1.0'; Path = $packageFolder; InstallCommand = $installer; InstallArguments = $logs; SegmentSize = 4096 }
        if ($Condition) { $arguments.InstallCondition = $Condition }
        if ($InstallAt) { $arguments.InstallAt = $InstallAt }
        New-DistPackage @arguments
    }

    function Wait-Status([string] $Job, [string[]] $Status, [int] $TimeoutSeconds = 60) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        while ([DateTime]::UtcNow -lt $deadline) {
            $current = Get-DistJobStatus -Job $Job
            if ($Status -contains $current.Status) { return $current }
            [Threading.Thread]::Sleep(100)
        }
        throw "Job $Job did not reach $($Status -join ' or ') within $TimeoutSeconds s; it is $($current.Status): $($current.Message)"
    }
}

AfterAll {
    Stop-TestAgent $agent
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'Install conditions' {
    It 'installs where the conditions hold' {
        New-Package 'Met' @{ OS = $os; MinFreeDiskMB = 1; MinMemoryMB = 1; SoftwareAbsent = 'jp1dist-no-such-software' } | Out-Null
        (Get-DistPackage -Name 'Met').InstallConditions.OS | Should -Be $os
        New-DistJob -Name 'met' -Package 'Met' -Destination 'pc-a' | Start-DistJob | Out-Null
        Wait-DistJob -Name 'met' -Timeout 90
        (Get-DistJobStatus -Job 'met').Status | Should -Be 'Succeeded'
    }

    It 'marks a host ConditionNotMet, naming the condition and the value found, and installs nothing' -TestCases @(
        @{ Condition = @{ MinMemoryMB = 1000000000 }; Name = 'MinMemoryMB' }
        @{ Condition = @{ MinFreeDiskMB = 1000000000 }; Name = 'MinFreeDiskMB' }
        @{ Condition = @{ SoftwareInstalled = 'Met <1.0' }; Name = 'SoftwareInstalled' }
        @{ Condition = @{ CheckCommand = $(if ($IsWindows) { 'cmd.exe' } else { 'sh' }); CheckArguments = $(if ($IsWindows) { '/c', 'exit 5' } else { '-c', 'exit 5' }) }; Name = 'CheckCommand' }
    ) {
        $before = (Get-InstallLog $logs 'pc-a').Count
        New-Package "Unmet $Name" $Condition | Out-Null
        New-DistJob -Name "unmet $Name" -Package "Unmet $Name" -Destination 'pc-a' | Out-Null
        Start-DistJob -Name "unmet $Name" | Out-Null
        Wait-DistJob -Name "unmet $Name" -Timeout 90
        $status = Get-DistJobStatus -Job "unmet $Name"
        $status.Status | Should -Be 'ConditionNotMet'
        $status.Message | Should -BeLike "Condition $Name not met:*"
        $status.ExitCode | Should -BeNullOrEmpty
        (Get-InstallLog $logs 'pc-a').Count | Should -Be $before
        { Restart-DistJob -JobName "unmet $Name" -ErrorAction Stop } | Should -Throw -ErrorId 'NoFailedTargets,*'
    }

    It 'lets the manager skip a host whose registered facts fail, and a job override the package' {
        New-Package 'Other OS' @{ OS = 'Plan9'; MinFreeDiskMB = 1 } | Out-Null
        New-DistJob -Name 'other os' -Package 'Other OS' -Destination 'pc-a' | Start-DistJob | Out-Null
        $status = Wait-Status 'other os' 'ConditionNotMet'
        $status.Message | Should -BeLike '*OS not met*checked by the manager*'

        New-DistJob -Name 'override' -Package 'Other OS' -Destination 'pc-a' -InstallCondition @{ OS = $os } | Start-DistJob | Out-Null
        Wait-DistJob -Name 'override' -Timeout 90
        (Get-DistJobStatus -Job 'override').Status | Should -Be 'Succeeded'
    }

    It 'refuses an unknown condition with a clear error' {
        { New-Package 'Bad' @{ Colour = 'red' } } | Should -Throw -ErrorId 'InstallConditionInvalid,*'
        @(Get-DistPackage -Name 'Bad' -ErrorAction SilentlyContinue).Count | Should -Be 0
    }
}

Describe 'Install time' {
    It 'transfers first, shows Transferred, and installs at the install time' {
        $before = (Get-InstallLog $logs 'pc-a').Count
        New-Package 'Morning' -InstallAt ([DateTime]::Now.AddSeconds(12)) | Out-Null
        New-DistJob -Name 'morning' -Package 'Morning' -Destination 'pc-a' | Start-DistJob | Out-Null
        $transferred = Wait-Status 'morning' 'Transferred', 'Succeeded'
        $transferred.Status | Should -Be 'Transferred'
        $transferred.InstallAt | Should -Not -BeNullOrEmpty
        (Get-InstallLog $logs 'pc-a').Count | Should -Be $before
        Wait-DistJob -Name 'morning' -Timeout 90
        (Get-DistJobStatus -Job 'morning').Status | Should -Be 'Succeeded'
        (Get-InstallLog $logs 'pc-a').Count | Should -Be ($before + 1)
    }
}

Describe 'Restart after installing' {
    It 'keeps -RebootAfter on the job, and leaves it off unless asked' {
        New-Package 'Restarting' | Out-Null
        New-DistJob -Name 'restarting' -Package 'Restarting' -Destination 'pc-a' -RebootAfter | Out-Null
        New-DistJob -Name 'not restarting' -Package 'Restarting' -Destination 'pc-a' | Out-Null
        (Get-DistJob -Name 'restarting').RebootAfter | Should -BeTrue
        (Get-DistJob -Name 'not restarting').RebootAfter | Should -BeFalse
        Get-DistJob -Name '*restarting' | Remove-DistJob -Confirm:$false
    }
}

Describe 'Split transfer, suspend, resume and stop' {
    It 'suspends a paced transfer from the pipeline and resumes it to the end' {
        New-Package 'Paced' | Out-Null
        New-DistJob -Name 'paced' -Package 'Paced' -Destination 'pc-a' -SegmentInterval 0.5 -BandwidthLimitKBps 256 | Out-Null
        (Get-DistJob -Name 'paced').SegmentIntervalSeconds | Should -Be 0.5
        Start-DistJob -Name 'paced' | Out-Null
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        do { $status = Get-DistJobStatus -Job 'paced'; [Threading.Thread]::Sleep(50) } until ($status.SegmentsTransferred -ge 2 -or [DateTime]::UtcNow -gt $deadline)
        $suspended = @(Get-DistJobStatus -Job 'paced' | Suspend-DistJob -PassThru)
        $suspended.Count | Should -Be 1
        $suspended[0].Status | Should -Be 'Suspended'
        $suspended[0].SegmentCount | Should -Be 14
        (Get-DistJobStatus -Job 'paced').Status | Should -Be 'Suspended'

        $resumed = @(Resume-DistJob -JobName 'paced' -HostName 'pc-a' -PassThru)
        # Queued at once; the agent, woken by the nudge, may already have taken it up again.
        @('Queued', 'Transferring', 'Transferred', 'Installing', 'Succeeded') -contains $resumed[0].Status | Should -BeTrue
        Wait-DistJob -Name 'paced' -Timeout 90
        $done = Get-DistJobStatus -Job 'paced'
        $done.Status | Should -Be 'Succeeded'
        $done.SegmentsTransferred | Should -Be 14
        $done.Progress | Should -Be '14/14 (100%)'
    }

    It 'cancels with Stop-DistJob, and refuses to suspend what has finished' {
        New-DistJob -Name 'canceled' -Package 'Paced' -Destination 'pc-a' -DistributeAt ([DateTime]::Now.AddHours(1)) | Start-DistJob | Out-Null
        Stop-DistJob -JobName 'canceled' -WhatIf
        (Get-DistJobStatus -Job 'canceled').Status | Should -Be 'Waiting'
        (Stop-DistJob -JobName 'canceled' -Confirm:$false -PassThru).Status | Should -Be 'Canceled'
        { Suspend-DistJob -JobName 'canceled' -ErrorAction Stop } | Should -Throw -ErrorId 'NothingToSuspend,*'
    }
}
