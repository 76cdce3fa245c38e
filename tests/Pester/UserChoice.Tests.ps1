# Packages the user chooses, from the managed computer's side: Get-DistAvailablePackage and Install-DistAvailablePackage
# talk to a real agent process over its local channel, while a manager (a separate process) shows Available, then the
# install's result. The install script writes a line per run to a log, and fails with exit code 3 while a marker exists.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'choice'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $state = [IO.Path]::Combine($scratch, 'agent-pc-u')
    $manager = Start-TestManager
    $token = New-DistEnrollmentToken -Description 'user choice test'
    $agent = Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -Name 'pc-u' -StateFolder $state

    function Wait-Status([string] $Job, [string] $Status) {
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while ((Get-DistJobStatus -Job $Job -HostName 'pc-u').Status -ne $Status -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        (Get-DistJobStatus -Job $Job -HostName 'pc-u').Status
    }

    function New-Offer([string] $Package, [string] $Description) {
        $folder = [IO.Path]::Combine($scratch, "package-$Package")
        $install = New-TestPackageFolder $folder $logs
        New-DistPackage -Name $Package -Version '1.0' -Path $folder -InstallCommand $install -InstallArguments $logs -Description $Description | Out-Null
        New-DistJob -Name "$Package offered" -Package $Package -Destination 'pc-u' -Type UserChoice | Out-Null
        Start-DistJob -Name "$Package offered" | Out-Null
        Wait-Status "$Package offered" 'Available'
    }

    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while (@(Get-DistHost -Name 'pc-u' -ErrorAction SilentlyContinue).Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
}

AfterAll {
    Stop-TestAgent $agent
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'Get-DistAvailablePackage' {
    It 'lists what a user-choice job offers, from the running agent, installed nothing' {
        New-Offer 'Editor' 'Edits text' | Should -Be 'Available'
        $offer = Get-DistAvailablePackage -StatePath $state
        $offer.Name | Should -Be 'Editor'
        $offer.Version | Should -Be '1.0'
        $offer.Description | Should -Be 'Edits text'
        $offer.Installed | Should -BeFalse
        $offer.JobName | Should -Be 'Editor offered'
        $offer.SizeBytes | Should -BeGreaterThan 0
        @(Get-InstallLog $logs 'pc-u').Count | Should -Be 0
    }

    It 'filters by name: an exact name offered nowhere is a non-terminating error, a pattern that matches nothing is empty' {
        (Get-DistAvailablePackage 'Ed*' -StatePath $state).Name | Should -Be 'Editor'
        Get-DistAvailablePackage 'Zz*' -StatePath $state | Should -BeNullOrEmpty
        Get-DistAvailablePackage 'Viewer' -StatePath $state -ErrorAction SilentlyContinue -ErrorVariable missing | Should -BeNullOrEmpty
        $missing[0].FullyQualifiedErrorId | Should -BeLike 'AvailablePackageNotFound,*'
        $missing[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'says so when no agent runs on the state folder' {
        $empty = New-TestFolder 'no-agent'
        try {
            { Get-DistAvailablePackage -StatePath $empty } | Should -Throw -ErrorId 'AgentNotRunning,*'
            { Install-DistAvailablePackage -Name 'Editor' -StatePath $empty -Confirm:$false } | Should -Throw -ErrorId 'AgentNotRunning,*'
        } finally {
            Remove-TestFolder $empty
        }
    }
}

Describe 'Install-DistAvailablePackage' {
    It 'installs nothing with -WhatIf' {
        Get-DistAvailablePackage 'Editor' -StatePath $state | Install-DistAvailablePackage -StatePath $state -WhatIf | Should -BeNullOrEmpty
        @(Get-InstallLog $logs 'pc-u').Count | Should -Be 0
        (Get-DistJobStatus -Job 'Editor offered').Status | Should -Be 'Available'
    }

    It 'installs an offer piped from Get-DistAvailablePackage once, and the manager shows Succeeded' {
        $outcome = Get-DistAvailablePackage 'Editor' -StatePath $state | Install-DistAvailablePackage -StatePath $state -Confirm:$false
        $outcome.Name | Should -Be 'Editor'
        $outcome.Status | Should -Be 'Succeeded'
        $outcome.ExitCode | Should -Be 0
        $outcome.Succeeded | Should -BeTrue
        @(Get-InstallLog $logs 'pc-u') | Should -HaveCount 1
        (Get-DistJobStatus -Job 'Editor offered').Status | Should -Be 'Succeeded'
        (Get-DistAvailablePackage 'Editor*' -StatePath $state) | Should -BeNullOrEmpty

        $again = Install-DistAvailablePackage -Name 'Editor' -StatePath $state -Confirm:$false
        $again.AlreadyInstalled | Should -BeTrue
        @(Get-InstallLog $logs 'pc-u') | Should -HaveCount 1
    }

    It 'makes a failed install a non-terminating error carrying the exit code, and the manager shows Failed' {
        New-Offer 'Viewer' 'Views text' | Should -Be 'Available'
        $marker = [IO.Path]::Combine($logs, 'broken-pc-u')
        [IO.File]::WriteAllText($marker, '')
        try {
            $outcome = Install-DistAvailablePackage -Name 'Viewer' -StatePath $state -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
        } finally {
            [IO.File]::Delete($marker)
        }
        $outcome | Should -BeNullOrEmpty
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'UserInstallFailed,*'
        $failed[0].TargetObject.ExitCode | Should -Be 3
        $failed[0].Exception.Message | Should -Match 'exit code 3'
        $status = Get-DistJobStatus -Job 'Viewer offered'
        $status.Status | Should -Be 'Failed'
        $status.ExitCode | Should -Be 3
    }

    It 'refuses a name nothing offers, and a pattern, changing nothing' {
        Install-DistAvailablePackage -Name 'Nothing' -StatePath $state -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable refused | Should -BeNullOrEmpty
        $refused[0].FullyQualifiedErrorId | Should -BeLike 'AvailablePackageNotFound,*'
        $refused[0].Exception.Message | Should -Match "'Nothing' is not available"
        Install-DistAvailablePackage -Name 'Edit*' -StatePath $state -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable pattern | Should -BeNullOrEmpty
        $pattern[0].FullyQualifiedErrorId | Should -BeLike 'AvailablePackageNamePattern,*'
    }
}
