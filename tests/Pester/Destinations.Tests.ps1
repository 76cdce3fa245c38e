# Destinations through the real pieces: host groups, ID groups with a policy, inventory, and the guide's
# procedure (an ID group job executed before the new clients exist) with a manager and agents as processes.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'destinations'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $installer = New-TestPackageFolder ([IO.Path]::Combine($scratch, 'package')) $logs
    $manager = Start-TestManager
    $token = New-DistEnrollmentToken -Description 'destinations test'

    function Invoke-Agent([string] $Name) {
        $run = Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -Name $Name -StateFolder ([IO.Path]::Combine($scratch, "agent-$Name")) -Once
        if ($run.ExitCode -ne 0) { throw "Agent $Name exited with $($run.ExitCode): $($run.Output)" }
    }
}

AfterAll {
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'The guide: every new client gets the package through an ID group job' {
    It 'creates the ID group, the package and the job, executes it, then sets the policy' {
        New-DistIdGroup -Name 'ID_NEWCLT' -Description 'New clients' | Out-Null
        New-DistPackage -Name 'AntiVirus' -Version '1.0' -Path ([IO.Path]::Combine($scratch, 'package')) -InstallCommand $installer -InstallArguments $logs | Out-Null
        $job = New-DistJob -Name 'AV to new clients' -Package 'AntiVirus' -Destination 'ID_NEWCLT' -DestinationType IdGroup
        $job.DestinationType | Should -Be 'IdGroup'
        $job.Destinations | Should -Be @('ID_NEWCLT')
        (Start-DistJob -Name 'AV to new clients').TargetCount | Should -Be 0
        $policy = Set-DistIdGroupPolicy -IdGroup 'ID_NEWCLT' -Rule @{ HostName = 'new-*'; IPAddress = '0.0.0.0/0' } -PassThru
        $policy.Rules.Count | Should -Be 1
        (Get-DistIdGroupPolicy -IdGroup 'ID_NEWCLT').Rules[0].Conditions['HostName'] | Should -Be @('new-*')
    }

    It 'installs on the two matching new clients at their first connection, and never on the third' {
        Invoke-Agent 'new-pc1'
        Invoke-Agent 'new-pc2'
        Invoke-Agent 'old-pc1'
        Invoke-Agent 'old-pc1'   # a later connection changes nothing for a host that does not match
        @(Get-InstallLog $logs 'new-pc1').Count | Should -Be 1
        @(Get-InstallLog $logs 'new-pc2').Count | Should -Be 1
        @(Get-InstallLog $logs 'old-pc1').Count | Should -Be 0
    }

    It 'shows exactly the two members in the status view, each with when it was added' {
        $status = @(Get-DistJobStatus -Job 'AV to new clients')
        $status.HostName | Should -Be @('new-pc1', 'new-pc2')
        $status.Status | Should -Be @('Succeeded', 'Succeeded')
        foreach ($s in $status) { $s.AddedAt | Should -BeGreaterThan ([DateTime]::MinValue) }
        $members = @(Get-DistIdGroup -Name 'ID_NEWCLT' -Member)
        $members.HostName | Should -Be @('new-pc1', 'new-pc2')
        $members.Source | Should -Be @('Policy', 'Policy')
    }

    It 'follows the not-found rule for -HostName: an exact name that no status answers is an error naming the host, a pattern an empty result' {
        $job = 'AV to new clients'
        $out = Get-DistJobStatus -Job $job -HostName 'nosuch-pc' -ErrorAction SilentlyContinue -ErrorVariable failed
        @($out).Count | Should -Be 0
        @($failed).Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'HostNotFound,*'
        "$($failed[0].CategoryInfo.Category)" | Should -Be 'ObjectNotFound'
        $failed[0].TargetObject | Should -Be 'nosuch-pc'
        # A registered host that is no destination of the job.
        $out = Get-DistJobStatus -Job $job -HostName 'old-pc1' -ErrorAction SilentlyContinue -ErrorVariable failed
        @($out).Count | Should -Be 0
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'HostNotInJob,*'
        "$($failed[0].CategoryInfo.Category)" | Should -Be 'ObjectNotFound'
        $failed[0].TargetObject | Should -Be 'old-pc1'
        # One error for the missing name, and the others still answered.
        $out = @(Get-DistJobStatus -Job $job -HostName 'new-pc1', 'nosuch-pc' -ErrorAction SilentlyContinue -ErrorVariable failed)
        $out.HostName | Should -Be @('new-pc1')
        @($failed).Count | Should -Be 1
        # A pattern that matches nothing, and a host filtered out by -Status, are empty results without an error.
        @(Get-DistJobStatus -Job $job -HostName 'nosuch*' -ErrorAction Stop).Count | Should -Be 0
        @(Get-DistJobStatus -Job $job -HostName 'new-pc1' -Status Failed -ErrorAction Stop).Count | Should -Be 0
        # An unknown job is reported once, however many hosts were named.
        Get-DistJobStatus -Job 'nosuch job' -HostName 'new-pc1', 'new-pc2' -ErrorAction SilentlyContinue -ErrorVariable failed
        @($failed).Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'JobNotFound,*'
    }

    It 'lists the ID group''s members when the group is piped to Get-DistHost, and counts the succeeded targets' {
        @(Get-DistIdGroup -Name 'ID_NEWCLT' | Get-DistHost).Name | Should -Be @('new-pc1', 'new-pc2')
        @(Get-DistIdGroup -Name 'ID_NEWCLT' | Get-DistHost 'new-pc2').Name | Should -Be @('new-pc2')
        $targets = (Get-DistJob -Name 'AV to new clients').Targets
        $targets.Succeeded | Should -Be 2
        $targets.Pending | Should -Be 0
        $targets.Total | Should -Be 2
    }

    It 'records what JP1Dist installed in the inventory' {
        $found = @(Get-DistInventory -Software 'AntiVirus<2.0')
        $found.HostName | Should -Be @('new-pc1', 'new-pc2')
        $found[0].Source | Should -Be 'JP1Dist'
        $inventory = Get-DistInventory -HostName 'new-pc1'
        $inventory.CpuCount | Should -BeGreaterThan 0
        $inventory.MemoryMB | Should -BeGreaterThan 0
        $inventory.Addresses.Count | Should -BeGreaterThan 0
    }

    It 'refuses to remove an ID group that a job uses' {
        { Remove-DistIdGroup -Name 'ID_NEWCLT' -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'IdGroupInUse,*'
        @(Get-DistIdGroup -Name 'ID_NEWCLT').Count | Should -Be 1
    }

    It 'refuses a rule on an unknown fact or with a malformed pattern, and keeps the policy' {
        { Set-DistIdGroupPolicy -IdGroup 'ID_NEWCLT' -Rule @{ Colour = 'red' } } | Should -Throw -ErrorId 'PolicyFactUnknown,*'
        { Set-DistIdGroupPolicy -IdGroup 'ID_NEWCLT' -Rule @{ IPAddress = '10.0.0.0/33' } } | Should -Throw -ErrorId 'AddressRangeInvalid,*'
        { Set-DistIdGroupPolicy -IdGroup 'ID_NEWCLT' -Rule @{ OSVersion = '>=' } } | Should -Throw -ErrorId 'VersionRangeInvalid,*'
        { Set-DistIdGroupPolicy -IdGroup 'Nothing' -Rule @{ HostName = '*' } } | Should -Throw -ErrorId 'IdGroupNotFound,*'
        (Get-DistIdGroupPolicy -IdGroup 'ID_NEWCLT').Rules[0].Conditions['HostName'] | Should -Be @('new-*')
    }

    It 'admits a connected agent when the policy changes, and it installs at its next poll' {
        $agent = Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -Name 'late-pc1' -StateFolder ([IO.Path]::Combine($scratch, 'agent-late-pc1'))
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not (Get-DistHost -Name 'late-*') -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
            Set-DistIdGroupPolicy -IdGroup 'ID_NEWCLT' -Rule @{ HostName = 'new-*' }, @{ HostName = 'late-*' } | Out-Null
            Wait-DistJob -Name 'AV to new clients' -Timeout 90
            (Get-DistJobStatus -Job 'AV to new clients' -HostName 'late-pc1').Status | Should -Be 'Succeeded'
            @(Get-InstallLog $logs 'late-pc1').Count | Should -Be 1
        }
        finally { Stop-TestAgent $agent }
    }

    It 'lets hosts that stop matching leave, keeping their results' {
        Set-DistIdGroupPolicy -IdGroup 'ID_NEWCLT' -Rule @{ HostName = 'new-pc1' } | Out-Null
        (Get-DistIdGroup -Name 'ID_NEWCLT').HostNames | Should -Be @('new-pc1')
        @(Get-DistJobStatus -Job 'AV to new clients').Count | Should -Be 3
    }
}

Describe 'Host groups' {
    It 'creates groups, adds hosts from the pipeline and nests groups' {
        New-DistHostGroup -Name 'Sales' | Out-Null
        New-DistHostGroup -Name 'Tokyo' | Out-Null
        New-DistHostGroup -Name 'Company' | Out-Null
        Get-DistHost -Name 'new-*' | Add-DistHostGroupMember -Group 'Sales' | Out-Null
        Add-DistHostGroupMember -Group 'Tokyo' -HostName 'new-pc2', 'old-pc1' | Out-Null
        $company = Add-DistHostGroupMember -Group 'Company' -MemberGroup 'Sales', 'Tokyo' -PassThru
        $company.HostCount | Should -Be 3
        (Get-DistHostGroup -Name 'Sales').Hosts | Should -Be @('new-pc1', 'new-pc2')
    }

    It 'refuses a cycle and unknown names, and changes nothing' {
        { Add-DistHostGroupMember -Group 'Sales' -MemberGroup 'Company' } | Should -Throw -ErrorId 'HostGroupCycle,*'
        { Add-DistHostGroupMember -Group 'Sales' -HostName 'old-pc1', 'nobody' } | Should -Throw -ErrorId 'HostNotFound,*'
        { Add-DistHostGroupMember -Group 'Nothing' -HostName 'old-pc1' } | Should -Throw -ErrorId 'HostGroupNotFound,*'
        (Get-DistHostGroup -Name 'Sales').Hosts | Should -Be @('new-pc1', 'new-pc2')
        (Get-DistHostGroup -Name 'Sales').Groups.Count | Should -Be 0
    }

    It 'gives a host reached twice the job once' {
        $job = Get-DistHostGroup -Name 'Company', 'Sales' | New-DistJob -Name 'AV to groups' -Package 'AntiVirus' -DestinationType HostGroup
        $job.Destinations | Should -Be @('Company', 'Sales')
        $execution = Start-DistJob -Name 'AV to groups'
        $execution.TargetCount | Should -Be 3
        $execution.HostNames | Should -Be @('new-pc1', 'new-pc2', 'old-pc1')
    }

    It 'lists the hosts a job to the group reaches when the group is piped to Get-DistHost, nested groups included' {
        @(Get-DistHostGroup -Name 'Company' | Get-DistHost).Name | Should -Be @('new-pc1', 'new-pc2', 'old-pc1')
        @(Get-DistHostGroup -Name 'Company' | Get-DistHost -Name 'old-*').Name | Should -Be @('old-pc1')
        @(Get-DistHostGroup -Name 'Sales', 'Tokyo' | Get-DistHost).Name | Should -Be @('new-pc1', 'new-pc2', 'new-pc2', 'old-pc1')
        (Get-DistHostGroup -Name 'Company' | Get-DistHost).Name | Should -Be (Get-DistJobStatus -Job 'AV to groups').HostName
    }

    It 'counts the group job''s targets as they end' {
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while (@(Get-DistJobStatus -Job 'AV to groups' | Where-Object Status -EQ 'Waiting').Count -gt 0 -and [DateTime]::UtcNow -lt $deadline) {
            [Threading.Thread]::Sleep(200)
        }
        $before = (Get-DistJob -Name 'AV to groups').Targets
        $before.Pending | Should -Be 3
        $before.Succeeded | Should -Be 0
        Invoke-Agent 'old-pc1'
        $after = (Get-DistJob -Name 'AV to groups').Targets
        $after.Succeeded | Should -Be 1
        $after.Pending | Should -Be 2
        $after.Total | Should -Be 3
        "$after" | Should -Be '1 succeeded, 2 in progress'
    }

    It 'gives readable values to CSV and JSON: lists joined, enums and counts by name' {
        $job = Get-DistJob -Name 'AV to groups'
        # Export-Csv writes each property's ToString(): these hold in any runner, with or without the Utility cmdlets.
        $job.Destinations.ToString() | Should -Be 'Company, Sales'
        $job.Destinations.Count | Should -Be 2
        $job.Type.ToString() | Should -Be 'Install'
        $job.Targets.ToString() | Should -Be '1 succeeded, 2 in progress'
        (Get-DistHostGroup -Name 'Company').Groups.ToString() | Should -Be 'Sales, Tokyo'
        if (Get-Command ConvertTo-Csv -ErrorAction SilentlyContinue) {
            $csv = @($job | ConvertTo-Csv -NoTypeInformation)
            $csv[1] | Should -Match '"Company, Sales"'
            $csv[1] | Should -Match '"1 succeeded, 2 in progress"'
            $csv[1] | Should -Not -Match 'System\.Collections'
        }
        if (Get-Command ConvertTo-Json -ErrorAction SilentlyContinue) {
            $json = $job | ConvertTo-Json -EnumsAsStrings -Depth 3 | ConvertFrom-Json
            $json.Type | Should -Be 'Install'
            $json.Destinations | Should -Be @('Company', 'Sales')
            $json.Targets.Succeeded | Should -Be 1
        }
    }

    It 'names hosts and host groups in one job' {
        $job = New-DistJob -Name 'AV mixed' -Package 'AntiVirus' -Destination 'old-pc1' -HostGroup (Get-DistHostGroup -Name 'Sales')
        $job.Destinations | Should -Be @('old-pc1', 'Sales')
        (Start-DistJob -Name 'AV mixed').HostNames | Should -Be @('new-pc1', 'new-pc2', 'old-pc1')
        { New-DistJob -Name 'AV none' -Package 'AntiVirus' -ErrorAction Stop } | Should -Throw -ErrorId 'JobDestinationMissing,*'
        { New-DistJob -Name 'AV bad' -Package 'AntiVirus' -Destination 'Sales' -DestinationType HostGroup -HostGroup 'Tokyo' -ErrorAction Stop } |
            Should -Throw -ErrorId 'HostGroupWithDestinationType,*'
    }

    It 'refuses to remove a group that a job uses, and removes members and groups otherwise' {
        { Remove-DistHostGroup -Name 'Sales' -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'HostGroupInUse,*'
        Remove-DistHostGroupMember -Group 'Tokyo' -HostName 'old-pc1' -Confirm:$false | Out-Null
        (Get-DistHostGroup -Name 'Tokyo').Hosts | Should -Be @('new-pc2')
        New-DistHostGroup -Name 'Spare' | Out-Null
        Remove-DistHostGroup -Name 'Spare' -Confirm:$false
        @(Get-DistHostGroup -Name 'Spare*').Count | Should -Be 0
    }

    It 'admits hosts into an ID group through a HostGroup rule, and by hand' {
        New-DistIdGroup -Name 'Tokyo people' | Out-Null
        Set-DistIdGroupPolicy -IdGroup 'Tokyo people' -Rule @{ HostGroup = 'Tokyo' } | Out-Null
        (Get-DistIdGroup -Name 'Tokyo people').HostNames | Should -Be @('new-pc2')
        $group = Add-DistIdGroupMember -IdGroup 'Tokyo people' -HostName 'old-pc1' -PassThru
        ($group.Members | Where-Object HostName -eq 'old-pc1').Source | Should -Be 'Manual'
        Remove-DistIdGroupMember -IdGroup 'Tokyo people' -HostName 'old-pc1' -Confirm:$false | Out-Null
        (Get-DistIdGroup -Name 'Tokyo people').HostNames | Should -Be @('new-pc2')
        Remove-DistIdGroup -Name 'Tokyo people' -Confirm:$false
        @(Get-DistIdGroup -Name 'Tokyo*').Count | Should -Be 0
    }
}

Describe 'Packages the user chooses' {
    It 'offers a package with -Type UserChoice: the agent shows it Available and installs nothing' {
        Invoke-Agent 'old-pc1'   # the jobs above first, so that only the offer is left
        $before = @(Get-InstallLog $logs 'old-pc1').Count
        $job = New-DistJob -Name 'AV offered' -Package 'AntiVirus' -Destination 'old-pc1' -Type UserChoice
        $job.Type | Should -Be 'UserChoice'
        (Start-DistJob -Name 'AV offered').HostNames | Should -Be @('old-pc1')
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ((Get-DistJobStatus -Job 'AV offered').Status -eq 'Waiting' -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        Invoke-Agent 'old-pc1'
        (Get-DistJobStatus -Job 'AV offered').Status | Should -Be 'Available'
        @(Get-InstallLog $logs 'old-pc1').Count | Should -Be $before
    }

    It 'downloads an offered package ahead with -PreDownload, refused for an install job, and withdraws a removed offer' {
        { New-DistJob -Name 'AV ahead refused' -Package 'AntiVirus' -Destination 'old-pc1' -PreDownload } | Should -Throw -ErrorId 'PreDownloadNotUserChoice,*'
        Get-DistJob -Name 'AV ahead refused' | Should -BeNullOrEmpty
        # An open offer only waits for its user: its job is removed without -Force, and the agent withdraws it at its next poll.
        Remove-DistJob -Name 'AV offered' -Confirm:$false
        Get-DistJob -Name 'AV offered' | Should -BeNullOrEmpty
        Invoke-Agent 'old-pc1'
        $before = @(Get-InstallLog $logs 'old-pc1').Count

        $job = New-DistJob -Name 'AV ahead' -Package 'AntiVirus' -Destination 'old-pc1' -Type UserChoice -PreDownload
        $job.PreDownload | Should -BeTrue
        (Get-DistJob -Name 'AV ahead').PreDownload | Should -BeTrue
        Start-DistJob -Name 'AV ahead' | Out-Null
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ((Get-DistJobStatus -Job 'AV ahead').Status -eq 'Waiting' -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        Invoke-Agent 'old-pc1'
        $status = Get-DistJobStatus -Job 'AV ahead'
        $status.Status | Should -Be 'Available'
        $status.BytesTransferred | Should -Be $status.TotalBytes   # downloaded ahead, before the user chose
        $status.TotalBytes | Should -BeGreaterThan 0
        @(Get-InstallLog $logs 'old-pc1').Count | Should -Be $before
    }
}
