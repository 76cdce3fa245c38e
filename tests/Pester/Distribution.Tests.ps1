# The whole distribution path through the real pieces: the module in the PowerShell engine, a manager and
# three agents as separate processes talking HTTP on 127.0.0.1, SQLite files in a scratch data folder.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'distribution'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $installer = New-TestPackageFolder ([IO.Path]::Combine($scratch, 'package')) $logs
    $hosts = 'pc-a', 'pc-b', 'pc-c'
    $agents = @()
    $manager = Start-TestManager
    $token = New-DistEnrollmentToken -Description 'distribution test'
    foreach ($name in $hosts) {
        $agents += Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -Name $name -StateFolder ([IO.Path]::Combine($scratch, "agent-$name"))
    }
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while (@(Get-DistHost).Count -lt $hosts.Count -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
}

AfterAll {
    foreach ($agent in $agents) { Stop-TestAgent $agent }
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'Distributing a package to three agents' {
    It 'registers every agent with its facts' {
        $registered = @(Get-DistHost)
        $registered.Name | Should -Be $hosts
        foreach ($h in $registered) {
            $h.Id | Should -Not -Be ([Guid]::Empty)
            $h.OS | Should -Not -BeNullOrEmpty
            $h.Architecture | Should -Not -BeNullOrEmpty
            $h.Addresses.Count | Should -BeGreaterThan 0
        }
    }

    It 'creates nothing under -WhatIf' {
        New-DistPackage -Name 'Editor' -Version '2.1' -Path ([IO.Path]::Combine($scratch, 'package')) -InstallCommand $installer -WhatIf
        @(Get-DistPackage).Count | Should -Be 0
    }

    It 'installs on every host; a failing host shows its exit code and output' {
        [IO.File]::WriteAllText([IO.Path]::Combine($logs, 'broken-pc-b'), '')
        $package = New-DistPackage -Name 'Editor' -Version '2.1' -Path ([IO.Path]::Combine($scratch, 'package')) -InstallCommand $installer -InstallArguments $logs
        $package.FileCount | Should -Be 2
        New-DistJob -Name 'Roll out editor' -Package 'Editor' -Destination $hosts | Out-Null
        $jobPackage = Get-DistJob -Name 'Roll out editor' | Get-DistPackage
        ($jobPackage.Name, $jobPackage.Version) | Should -Be @('Editor', '2.1')
        $execution = Start-DistJob -Name 'Roll out editor'
        $execution.TargetCount | Should -Be 3
        Wait-DistJob -Name 'Roll out editor' -Timeout 120

        $status = @(Get-DistJobStatus -Job 'Roll out editor')
        $status.Count | Should -Be 3
        ($status | Where-Object HostName -eq 'pc-a').Status | Should -Be 'Succeeded'
        ($status | Where-Object HostName -eq 'pc-c').Status | Should -Be 'Succeeded'
        $failed = $status | Where-Object HostName -eq 'pc-b'
        $failed.Status | Should -Be 'Failed'
        $failed.ExitCode | Should -Be 3
        $failed.Attempt | Should -Be 1
        $failed.Message | Should -BeLike '*exited with code 3*'
        $failed.Output | Should -BeLike '*broken on pc-b*'
    }

    It 'gives the install command the job, host and package in its environment and the staging folder as working directory' {
        $lines = @(Get-InstallLog $logs 'pc-a')
        $fields = $lines[0] -split '\|'
        $fields[0] | Should -Be 'pc-a'
        $fields[1] | Should -Be 'Roll out editor'
        $fields[2] | Should -Be 'Editor'
        $fields[3] | Should -Be '2.1'
        $fields[4] | Should -BeLike '*staging*'
    }

    It 're-executes only the failed host from the pipeline, and it succeeds once fixed' {
        [IO.File]::Delete([IO.Path]::Combine($logs, 'broken-pc-b'))
        $restart = @(Get-DistJobStatus -Job 'Roll out editor' -Status Failed | Restart-DistJob)
        $restart.Count | Should -Be 1
        $restart[0].HostNames | Should -Be @('pc-b')
        Wait-DistJob -Name 'Roll out editor' -Timeout 120

        $status = @(Get-DistJobStatus -Job 'Roll out editor')
        @($status | Where-Object Status -ne 'Succeeded').Count | Should -Be 0
        ($status | Where-Object HostName -eq 'pc-b').Attempt | Should -Be 2
        ($status | Where-Object HostName -eq 'pc-a').Attempt | Should -Be 1
    }

    It 'installed nothing twice' {
        (Get-InstallLog $logs 'pc-a').Count | Should -Be 1
        (Get-InstallLog $logs 'pc-b').Count | Should -Be 1
        (Get-InstallLog $logs 'pc-c').Count | Should -Be 1
    }

    It 'does not repeat work when an agent restarts' {
        Stop-TestAgent $agents[0]
        $run = Start-TestAgent -ManagerUrl $manager.Url -Name 'pc-a' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-a')) -Once
        $run.ExitCode | Should -Be 0
        (Get-InstallLog $logs 'pc-a').Count | Should -Be 1
    }

    It 'refuses to re-execute when nothing failed' {
        # One job of many in a pipeline: a non-terminating error, so -ErrorAction Stop makes it throw.
        { Restart-DistJob -JobName 'Roll out editor' -ErrorAction Stop } | Should -Throw -ErrorId 'NoFailedTargets,*'
    }

    It 'executes a saved job again on request' {
        Start-DistJob -Name 'Roll out editor' | Out-Null
        $agents[0] = Start-TestAgent -ManagerUrl $manager.Url -Name 'pc-a' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-a'))
        Wait-DistJob -Name 'Roll out editor' -Timeout 120
        (Get-InstallLog $logs 'pc-a').Count | Should -Be 2
        (Get-DistJob -Name 'Roll out editor').ExecutionCount | Should -Be 2
        @(Get-DistJobStatus -Job 'Roll out editor' -Status Succeeded).Count | Should -Be 3
    }

    It 'passes jobs and hosts along the pipeline by property name' {
        @(Get-DistJob -Name 'Roll out editor' | Get-DistJobStatus).Count | Should -Be 3
        $onHost = @(Get-DistHost -Name 'pc-b' | Get-DistJobStatus)
        $onHost.Count | Should -Be 1
        $onHost[0].HostName | Should -Be 'pc-b'
    }

    It 'refuses to wait for a job that was never executed' {
        New-DistJob -Name 'Idle' -Package 'Editor' -Destination 'pc-a' | Out-Null
        { Wait-DistJob -Name 'Idle' -Timeout 5 } | Should -Throw -ErrorId 'JobNotExecuted,*'
        Remove-DistJob -Name 'Idle' -Confirm:$false
    }

    It 'refuses to remove a package that a saved job uses' {
        { Remove-DistPackage -Name 'Editor' -Version '2.1' -Confirm:$false } | Should -Throw -ErrorId 'PackageUsedByJob,*'
        @(Get-DistPackage -Name 'Editor').Count | Should -Be 1
    }
}

Describe 'A job with an execution time' {
    It 'waits until its time, then runs' {
        $at = [DateTime]::Now.AddSeconds(4)
        New-DistJob -Name 'Later' -Package 'Editor' -Destination 'pc-c' -DistributeAt $at | Out-Null
        Start-DistJob -Name 'Later' | Out-Null
        (Get-DistJobStatus -Job 'Later').Status | Should -Be 'Waiting'
        Wait-DistJob -Name 'Later' -Timeout 90
        $status = Get-DistJobStatus -Job 'Later'
        $status.Status | Should -Be 'Succeeded'
        $status.QueuedAt | Should -BeGreaterOrEqual $at.AddMilliseconds(-1500)
    }
}

Describe 'An agent that dies while the install command runs' {
    BeforeAll {
        $slow = [IO.Path]::Combine($scratch, 'slow')
        [void][IO.Directory]::CreateDirectory($slow)
        if ($IsWindows) {
            $slowInstaller = 'install.cmd'
            [IO.File]::WriteAllText([IO.Path]::Combine($slow, $slowInstaller), "@echo off`r`necho started>>`"%~1\slow-%JP1DIST_HOST_NAME%.log`"`r`nping -n 60 127.0.0.1 >nul`r`n")
        }
        else {
            $slowInstaller = 'install.sh'
            [IO.File]::WriteAllText([IO.Path]::Combine($slow, $slowInstaller), "#!/bin/sh`necho started >> `"`$1/slow-`$JP1DIST_HOST_NAME.log`"`nsleep 60`n")
        }
        New-DistPackage -Name 'Slow' -Version '1' -Path $slow -InstallCommand $slowInstaller -InstallArguments $logs | Out-Null
    }

    It 'reports the install as failed after its restart and never runs it twice' {
        New-DistJob -Name 'Slow install' -Package 'Slow' -Destination 'pc-c' | Out-Null
        Start-DistJob -Name 'Slow install' | Out-Null
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ((Get-DistJobStatus -Job 'Slow install').Status -ne 'Installing' -and [DateTime]::UtcNow -lt $deadline) {
            [Threading.Thread]::Sleep(200)
        }
        (Get-DistJobStatus -Job 'Slow install').Status | Should -Be 'Installing'
        # Installing is reported just before the command starts: wait for the command itself.
        $started = [IO.Path]::Combine($logs, 'slow-pc-c.log')
        while (-not [IO.File]::Exists($started) -and [DateTime]::UtcNow -lt $deadline) {
            [Threading.Thread]::Sleep(100)
        }
        Stop-TestAgent $agents[2]   # killed with its install command, as a power cut would

        $run = Start-TestAgent -ManagerUrl $manager.Url -Name 'pc-c' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-c')) -Once
        $run.ExitCode | Should -Be 1   # the run reported an install as failed (the one cut off): docs/operations.md, Exit codes
        $status = Get-DistJobStatus -Job 'Slow install'
        $status.Status | Should -Be 'Failed'
        $status.Message | Should -BeLike '*stopped while the install command was running*'
        @([IO.File]::ReadAllLines($started)).Count | Should -Be 1
        $agents[2] = Start-TestAgent -ManagerUrl $manager.Url -Name 'pc-c' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-c'))
    }
}

Describe 'Without a running manager' {
    BeforeAll {
        if ($Remote) { return }   # the test run owns the manager connected to: these stop and start one here
        # A job whose execution time falls while the manager is down: its trigger must fire on start-up.
        New-DistJob -Name 'Overnight' -Package 'Editor' -Destination 'pc-b' -DistributeAt ([DateTime]::Now.AddSeconds(3)) | Out-Null
        Start-DistJob -Name 'Overnight' | Out-Null
        [Threading.Thread]::Sleep(1500)   # the manager turns the execution into a trigger within a second
        Stop-DistManager
        [Threading.Thread]::Sleep(3000)   # the execution time passes with no manager running
    }

    It 'keeps an executed job waiting and says why' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        New-DistJob -Name 'No manager' -Package 'Editor' -Destination 'pc-a' | Out-Null
        Start-DistJob -Name 'No manager' | Out-Null
        $status = Get-DistJobStatus -Job 'No manager'
        $status.Status | Should -Be 'Waiting'
        $status.Message | Should -BeLike 'No manager is running*'
    }

    It 'dispatches the waiting job once a manager starts, to the agents that kept trying' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        # Same address as before: the agents ride out the outage and reconnect by themselves.
        Start-DistManager -Listen $manager.Url | Out-Null
        Wait-DistJob -Name 'No manager', 'Overnight' -Timeout 90
        (Get-DistJobStatus -Job 'No manager').Status | Should -Be 'Succeeded'
        (Get-DistJobStatus -Job 'Overnight').Status | Should -Be 'Succeeded'
    }
}
