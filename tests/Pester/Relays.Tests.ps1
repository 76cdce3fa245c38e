# The manager's side of relays through the cmdlets: the host tree in Get-DistHost, AllLowerClients and
# TransferToRelay jobs, and package expiry. Relays and the hosts below them are registered through the engine the
# module loaded (as a relay's registration reaches the manager), so no relay process is needed here. In remote mode that
# engine is opened on the connected manager's data folder (on this computer), while the cmdlets go to the manager.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'relays'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'home')
    $source = [IO.Path]::Combine($scratch, 'source')
    [void][IO.Directory]::CreateDirectory($source)
    [IO.File]::WriteAllText([IO.Path]::Combine($source, 'setup.cmd'), 'exit 0')

    # The engine and protocol types live in the module's own load context (loaded by the first cmdlet): reach them
    # by assembly name, as the cmdlets themselves never do.
    $token = (New-DistEnrollmentToken -Description 'relays test').Token
    $relayToken = (New-DistEnrollmentToken -Description 'relays test' -Relay).Token
    $loaded = [AppDomain]::CurrentDomain.GetAssemblies()
    $engineAssembly = $loaded.Where({ $_.GetName().Name -eq 'JP1Dist.Core' })[0]
    $protocolAssembly = $loaded.Where({ $_.GetName().Name -eq 'JP1Dist.Protocol' })[0]
    $engine = $engineAssembly.GetType('JP1Dist.Core.DistEngine')::ForFolder((Get-TestManagerHome))
    $requestType = $protocolAssembly.GetType('JP1Dist.Protocol.RegisterRequest')

    function Register-TestHost([string] $Name, [string] $Kind, [string] $Under) {
        $parent = if ($Under) { [Nullable[Guid]](Get-DistHost -Name $Under).Id } else { [Nullable[Guid]]$null }
        $presented = if ($Kind -eq 'Relay') { $relayToken } else { $token }
        $request = $requestType::new($presented, $Name, 'Linux', '6.1', 'X64', [string[]]@('10.0.0.1'), $null, '1.0', $null, $Kind, $null, $null, $null)
        $engine.Hosts.RegisterAsync($request, $parent, [Threading.CancellationToken]::None).GetAwaiter().GetResult().HostId
    }

    # manager ─ pc-top; manager ─ relay-a ─ pc-1, relay-b ─ pc-2; manager ─ relay-empty
    Register-TestHost 'relay-a' 'Relay' | Out-Null
    Register-TestHost 'pc-top' | Out-Null
    Register-TestHost 'relay-empty' 'Relay' | Out-Null
    Register-TestHost 'relay-b' 'Relay' 'relay-a' | Out-Null
    Register-TestHost 'pc-1' 'Client' 'relay-a' | Out-Null
    Register-TestHost 'pc-2' $null 'relay-b' | Out-Null
}

AfterAll {
    Remove-TestFolder $scratch
}

Describe 'Get-DistHost shows the tree' {
    It 'lists hosts depth-first with their kind, higher system and depth' {
        $hosts = @(Get-DistHost)
        $hosts.Name | Should -Be @('pc-top', 'relay-a', 'pc-1', 'relay-b', 'pc-2', 'relay-empty')
        $hosts.Depth | Should -Be @(0, 0, 1, 1, 2, 0)
        $hosts.Kind | Should -Be @('Client', 'Relay', 'Client', 'Relay', 'Client', 'Relay')
        $hosts.HigherSystem | Should -Be @('(manager)', '(manager)', 'relay-a', 'relay-a', 'relay-b', '(manager)')
        $hosts[0].HigherSystemId | Should -BeNullOrEmpty
        $hosts[4].HigherSystemId | Should -Be $hosts[3].Id
    }

    It 'keeps name wildcards working, in tree order' {
        (Get-DistHost -Name 'pc-*').Name | Should -Be @('pc-top', 'pc-1', 'pc-2')
        (Get-DistHost -Name 'pc-*' -HigherSystem 'relay-a' -Recurse).Name | Should -Be @('pc-1', 'pc-2')
    }

    It 'lists the hosts directly below a relay, or every level with -Recurse' {
        (Get-DistHost -HigherSystem 'RELAY-A').Name | Should -Be @('pc-1', 'relay-b')
        (Get-DistHost -HigherSystem 'relay-a' -Recurse).Name | Should -Be @('pc-1', 'relay-b', 'pc-2')
        @(Get-DistHost -HigherSystem 'relay-empty').Count | Should -Be 0
    }

    It 'refuses an unknown or non-relay higher system and -Recurse alone' {
        { Get-DistHost -HigherSystem 'nobody' } | Should -Throw -ErrorId 'HostNotFound,*'
        $thrown = { Get-DistHost -HigherSystem 'pc-1' } | Should -Throw -ErrorId 'HostNotRelay,*' -PassThru
        $thrown.Exception.Message | Should -BeLike "*'pc-1' is not a relay*"
        { Get-DistHost -Recurse } | Should -Throw -ErrorId 'RecurseWithoutHigherSystem,*'
    }
}

Describe 'Jobs for relays' {
    BeforeAll {
        New-DistPackage -Name 'Office' -Version '1.0' -Path $source -InstallCommand 'setup.cmd' -ExpiresAt ([DateTime]::Now.AddDays(30)) | Out-Null
    }

    It 'refuses AllLowerClients of a host that is not a relay and saves nothing' {
        { New-DistJob -Name 'Below' -Package 'Office' -Destination 'relay-a', 'pc-top' -DestinationType AllLowerClients } |
            Should -Throw -ErrorId 'HostNotRelay,*'
        { New-DistJob -Name 'Below' -Package 'Office' -Destination 'nobody' -DestinationType AllLowerClients } |
            Should -Throw -ErrorId 'HostNotFound,*'
        @(Get-DistJob).Count | Should -Be 0
    }

    It 'reaches every host below the relay, lower relays included, and shows each in the status' {
        $job = New-DistJob -Name 'Below' -Package 'Office' -Destination 'relay-a' -DestinationType AllLowerClients
        $job.DestinationType | Should -Be 'AllLowerClients'
        $job.Destinations | Should -Be @('relay-a')
        (Start-DistJob -Name 'Below').TargetCount | Should -Be 3
        (Get-DistJobStatus -Job 'Below').HostName | Should -Be @('pc-1', 'pc-2', 'relay-b')
    }

    It 'names an AllLowerClients job whose relay has nobody below at execution' {
        New-DistJob -Name 'Nobody below' -Package 'Office' -Destination 'relay-empty' -DestinationType AllLowerClients | Out-Null
        { Start-DistJob -Name 'Nobody below' -ErrorAction Stop } | Should -Throw -ErrorId 'NoLowerClients,*'
    }

    It 'refuses TransferToRelay to clients, with install settings, and for an ID group' {
        { New-DistJob -Name 'Store' -Package 'Office' -Destination 'pc-top' -Type TransferToRelay } | Should -Throw -ErrorId 'HostNotRelay,*'
        { New-DistJob -Name 'Store' -Package 'Office' -Destination 'relay-a' -Type TransferToRelay -InstallAt ([DateTime]::Now.AddDays(1)) } |
            Should -Throw -ErrorId 'InstallSettingNotForTransfer,*'
        { New-DistJob -Name 'Store' -Package 'Office' -Destination 'relay-a' -Type TransferToRelay -InstallCondition @{ MinMemoryMB = 1 } } |
            Should -Throw -ErrorId 'InstallSettingNotForTransfer,*'
        { New-DistJob -Name 'Store' -Package 'Office' -Destination 'relay-a' -Type TransferToRelay -RebootAfter } |
            Should -Throw -ErrorId 'InstallSettingNotForTransfer,*'
        New-DistIdGroup -Name 'Ids' | Out-Null
        { New-DistJob -Name 'Store' -Package 'Office' -Destination 'Ids' -DestinationType IdGroup -Type TransferToRelay } |
            Should -Throw -ErrorId 'DestinationTypeInvalid,*'
        New-DistHostGroup -Name 'Clients' | Out-Null
        Add-DistHostGroupMember -HostGroup 'Clients' -HostName 'pc-top', 'pc-1'
        { New-DistJob -Name 'Store' -Package 'Office' -Destination 'Clients' -DestinationType HostGroup -Type TransferToRelay } |
            Should -Throw -ErrorId 'HostGroupHasNoRelay,*'
        @(Get-DistJob -Name 'Store*').Count | Should -Be 0
    }

    It 'saves a TransferToRelay job for relays and executes it for them only' {
        $job = New-DistJob -Name 'Store' -Package 'Office' -Destination 'relay-a', 'relay-b' -Type TransferToRelay
        $job.Type | Should -Be 'TransferToRelay'
        (Start-DistJob -Name 'Store').TargetCount | Should -Be 2
        $status = @(Get-DistJobStatus -Job 'Store')
        $status.HostName | Should -Be @('relay-a', 'relay-b')
        foreach ($s in $status) { $s.StoredUntil | Should -BeNullOrEmpty }
        New-DistJob -Name 'Store below' -Package 'Office' -Destination 'relay-a' -DestinationType AllLowerClients -Type TransferToRelay | Start-DistJob |
            ForEach-Object HostNames | Should -Be @('relay-b')
    }

    It 'shows a relay''s stored copy with its expiry, and does not send the package to it again' {
        # The manager's dispatch and a relay's report, through the engine's distribution service. In remote mode the running
        # manager dispatches each execution itself, so the test waits for its dispatch instead of making it.
        function Wait-Dispatched([string] $Job, [string] $Status) {
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ((Get-DistJobStatus -Job $Job).Status -ne $Status) {
                if ([DateTime]::UtcNow -gt $deadline) { throw "The manager did not dispatch $Job within 60 s." }
                [Threading.Thread]::Sleep(100)
            }
        }
        $distribution = $engineAssembly.GetType('JP1Dist.Core.Distribution.DistributionService')::new(
            $engine, $engineAssembly.GetType('JP1Dist.Core.Distribution.HostSignals')::new())
        $reportType = $protocolAssembly.GetType('JP1Dist.Protocol.ReportRequest')
        $none = [Threading.CancellationToken]::None
        $relay = (Get-DistHost -Name 'relay-a').Id

        $first = New-DistJob -Name 'Store A' -Package 'Office' -Destination 'relay-a' -Type TransferToRelay | Start-DistJob
        if ($Remote) { Wait-Dispatched 'Store A' 'Queued' }
        else { $distribution.DispatchAsync($first.ExecutionId, $none).GetAwaiter().GetResult() | Should -Be 1 }
        $item = $distribution.GetWorkAsync($relay, $none).GetAwaiter().GetResult() | Where-Object JobName -EQ 'Store A'
        $report = $reportType::new($item.WorkItemId, 'StoredOnRelay', $null, 'stored', $null, 0, 0)
        $distribution.ReportAsync($relay, $report, $none).GetAwaiter().GetResult().Accepted | Should -BeTrue
        $stored = Get-DistJobStatus -Job 'Store A'
        $stored.Status | Should -Be 'StoredOnRelay'
        $stored.StoredUntil | Should -Be (Get-DistPackage -Name 'Office').ExpiresAt
        $stored.StoredUntil.Kind | Should -Be 'Local'

        $second = New-DistJob -Name 'Store B' -Package 'Office' -Destination 'relay-a' -Type TransferToRelay | Start-DistJob
        if ($Remote) { Wait-Dispatched 'Store B' 'StoredOnRelay' }
        else { $distribution.DispatchAsync($second.ExecutionId, $none).GetAwaiter().GetResult() | Should -Be 0 }
        $skipped = Get-DistJobStatus -Job 'Store B'
        $skipped.Status | Should -Be 'StoredOnRelay'
        $skipped.Message | Should -BeLike 'Already stored on the relay until *; not sent again.'
        { Start-DistJob -Name 'Store A' -ErrorAction Stop } | Should -Throw -ErrorId 'AlreadyStoredOnRelays,*'
    }
}

Describe 'Package expiry' {
    It 'refuses an expiry in the past and registers nothing' {
        { New-DistPackage -Name 'Old' -Version '1' -Path $source -InstallCommand 'setup.cmd' -ExpiresAt ([DateTime]::Now.AddDays(-1)) } |
            Should -Throw -ErrorId 'ExpiresAtInPast,*'
        @(Get-DistPackage -Name 'Old*').Count | Should -Be 0
    }

    It 'shows the expiry in local time and changes it with Set-DistPackage' {
        $expiry = [DateTime]::Now.AddDays(10)
        $expiry = $expiry.AddTicks(-($expiry.Ticks % 10)) # times are kept to the microsecond
        New-DistPackage -Name 'Editor' -Version '2.0' -Path $source -InstallCommand 'setup.cmd' -ExpiresAt $expiry | Out-Null
        $package = Get-DistPackage -Name 'Editor'
        $package.ExpiresAt | Should -Be $expiry
        $package.ExpiresAt.Kind | Should -Be 'Local'

        Set-DistPackage -Name 'Editor' -Version '2.0' -ExpiresAt $expiry.AddDays(5) | Should -BeNullOrEmpty
        (Get-DistPackage -Name 'Editor').ExpiresAt | Should -Be $expiry.AddDays(5)
        (Set-DistPackage -Name 'Editor' -Version '2.0' -ExpiresAt $expiry.AddDays(6) -PassThru).ExpiresAt | Should -Be $expiry.AddDays(6)
        Get-DistPackage -Name 'Editor' | Set-DistPackage -ClearExpiry -WhatIf
        (Get-DistPackage -Name 'Editor').ExpiresAt | Should -Be $expiry.AddDays(6)
        Get-DistPackage -Name 'Editor' | Set-DistPackage -ClearExpiry
        (Get-DistPackage -Name 'Editor').ExpiresAt | Should -BeNullOrEmpty
    }

    It 'refuses a bad change and changes nothing' {
        Set-DistPackage -Name 'Editor' -Version '2.0' -ExpiresAt ([DateTime]::Now.AddDays(3))
        $before = (Get-DistPackage -Name 'Editor').ExpiresAt
        { Set-DistPackage -Name 'Editor' -Version '2.0' -ExpiresAt ([DateTime]::Now.AddDays(-3)) } | Should -Throw -ErrorId 'ExpiresAtInPast,*'
        { Set-DistPackage -Name 'Editor' -Version '2.0' } | Should -Throw -ErrorId 'ExpiryChangeInvalid,*'
        { Set-DistPackage -Name 'Editor' -Version '2.0' -ExpiresAt ([DateTime]::Now.AddDays(3)) -ClearExpiry } | Should -Throw -ErrorId 'ExpiryChangeInvalid,*'
        { Set-DistPackage -Name 'Editor' -Version '9.9' -ClearExpiry } | Should -Throw -ErrorId 'PackageNotFound,*'
        (Get-DistPackage -Name 'Editor').ExpiresAt | Should -Be $before
    }
}
