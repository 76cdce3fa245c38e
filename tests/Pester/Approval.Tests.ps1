# Enrollment approval and revocation through the cmdlets, with a manager and agents as real processes on 127.0.0.1:
# tokens that require approval, Get-DistHost -Pending, Approve-DistHost (also -Replace), Deny-DistHost and
# Remove-DistHost -Revoke, and the agents that stop when refused.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'approval'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $installer = New-TestPackageFolder ([IO.Path]::Combine($scratch, 'package')) $logs
    $agents = @{}
    $manager = Start-TestManager
    $approval = New-DistEnrollmentToken -Description 'approval test' -RequireApproval
    $plain = New-DistEnrollmentToken -Description 'plain test'

    function Wait-Until([scriptblock] $Condition, [string] $What, [int] $Seconds = 90) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while (-not (& $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Not within $Seconds s: $What" }
            [Threading.Thread]::Sleep(200)
        }
    }

    function Start-Agent([string] $Name, [string] $Token, [string] $State = $Name) {
        $agents[$State] = Start-TestAgent -ManagerUrl $manager.Url -Token $Token -Name $Name -StateFolder ([IO.Path]::Combine($scratch, "agent-$State"))
        $agents[$State]
    }
}

AfterAll {
    foreach ($agent in $agents.Values) { Stop-TestAgent $agent }
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'A token that requires approval' {
    It 'says so in its object and in the list' {
        $approval.RequireApproval | Should -BeTrue
        (Get-DistEnrollmentToken -Id $approval.Id).RequireApproval | Should -BeTrue
        (Get-DistEnrollmentToken -Id $plain.Id).RequireApproval | Should -BeFalse
    }

    It 'admits an agent that Get-DistHost lists only with -Pending' {
        Start-Agent 'pc-a' $approval.Token | Out-Null
        Wait-Until { @(Get-DistHost -Pending).Count -eq 1 } 'pc-a waits for approval'
        $waiting = Get-DistHost -Pending -Name 'PC-*'
        $waiting.Name | Should -Be 'pc-a'
        $waiting.TokenDescription | Should -Be 'approval test'
        $waiting.TokenId | Should -Be $approval.Id
        $waiting.ReplacesHost | Should -BeFalse
        $waiting.Approval | Should -Be 'New'
        $waiting.OS | Should -Not -BeNullOrEmpty
        $waiting.Addresses.Count | Should -BeGreaterThan 0
        @(Get-DistHost).Count | Should -Be 0
    }

    It 'changes nothing under -WhatIf' {
        Approve-DistHost -Name 'pc-a' -WhatIf
        Deny-DistHost -Name 'pc-a' -WhatIf
        @(Get-DistHost -Pending).Count | Should -Be 1
        @(Get-DistHost).Count | Should -Be 0
    }

    It 'refuses to approve or deny what does not wait, naming it' {
        Approve-DistHost -Name 'pc-none' -ErrorAction SilentlyContinue -ErrorVariable notFound
        $notFound[0].FullyQualifiedErrorId | Should -BeLike 'PendingHostNotFound,*'
        Deny-DistHost -Name 'pc-none' -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable notFound2
        $notFound2[0].FullyQualifiedErrorId | Should -BeLike 'PendingHostNotFound,*'
        Get-DistHost -Pending -Name 'pc-none' -ErrorAction SilentlyContinue -ErrorVariable notListed
        $notListed[0].FullyQualifiedErrorId | Should -BeLike 'PendingHostNotFound,*'
        @(Get-DistHost -Pending).Count | Should -Be 1
    }

    It 'approves from the pipeline; the agent then installs what a job sends it' {
        $approved = @(Get-DistHost -Pending | Approve-DistHost -PassThru)
        $approved.Name | Should -Be 'pc-a'
        (Get-DistHost -Name 'pc-a').Id | Should -Be $approved[0].Id
        @(Get-DistHost -Pending).Count | Should -Be 0

        New-DistPackage -Name 'Editor' -Version '1.0' -Path ([IO.Path]::Combine($scratch, 'package')) -InstallCommand $installer -InstallArguments $logs | Out-Null
        New-DistJob -Name 'Editor to pc-a' -Package 'Editor' -Destination 'pc-a' | Out-Null
        Start-DistJob -Name 'Editor to pc-a' | Out-Null
        Wait-DistJob -Name 'Editor to pc-a' -Timeout 120
        (Get-DistJobStatus -Job 'Editor to pc-a').Status | Should -Be 'Succeeded'
        @(Get-InstallLog $logs 'pc-a').Count | Should -Be 1
        Approve-DistHost -Name 'pc-a' -ErrorAction SilentlyContinue -ErrorVariable notPending
        $notPending[0].FullyQualifiedErrorId | Should -BeLike 'HostNotPending,*'
    }

    It 'denies an agent, which stops with exit code 3' {
        $denied = Start-Agent 'pc-b' $approval.Token
        Wait-Until { @(Get-DistHost -Pending -Name 'pc-b').Count -eq 1 } 'pc-b waits for approval'
        Deny-DistHost -Name 'pc-b' -Confirm:$false
        $denied.WaitForExit(90000) | Should -BeTrue
        $denied.ExitCode | Should -Be 3
        @(Get-DistHost -Pending).Count | Should -Be 0
        @(Get-DistHost -Name 'pc-b' -ErrorAction SilentlyContinue).Count | Should -Be 0
    }

    It 'lets a computer replace an enrolled host only with -Replace' {
        $first = Start-TestAgent -ManagerUrl $manager.Url -Token $plain.Token -Name 'pc-c' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-c-old')) -Once
        $first.ExitCode | Should -Be 0
        $enrolled = Get-DistHost -Name 'pc-c'
        Start-Agent 'pc-c' $approval.Token 'pc-c-new' | Out-Null
        Wait-Until { @(Get-DistHost -Pending -Name 'pc-c').Count -eq 1 } 'pc-c waits as a replacement'
        $waiting = Get-DistHost -Pending -Name 'pc-c'
        $waiting.Approval | Should -Be 'Replace'
        $waiting.Id | Should -Be $enrolled.Id

        Approve-DistHost -Name 'pc-c' -ErrorAction SilentlyContinue -ErrorVariable needsReplace
        $needsReplace[0].FullyQualifiedErrorId | Should -BeLike 'HostReplaceRequired,*'
        $needsReplace[0].Exception.Message | Should -BeLike '*-Replace*'
        @(Get-DistHost -Pending -Name 'pc-c').Count | Should -Be 1

        $replaced = Approve-DistHost -Name 'pc-c' -Replace -PassThru
        $replaced.Id | Should -Be $enrolled.Id
        $again = Start-TestAgent -ManagerUrl $manager.Url -Name 'pc-c' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-c-old')) -Once
        $again.ExitCode | Should -Be 3
        $again.Output | Should -BeLike '*revoked*'
    }

    It 'removes a host with -Revoke; its agent stops with exit code 3' {
        Remove-DistHost -Name 'pc-a' -Revoke -Force -Confirm:$false
        $agents['pc-a'].WaitForExit(90000) | Should -BeTrue
        $agents['pc-a'].ExitCode | Should -Be 3
        @(Get-DistHost -Name 'pc-a' -ErrorAction SilentlyContinue).Count | Should -Be 0
    }
}
