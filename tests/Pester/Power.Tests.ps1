# Wake-on-LAN and shutdown through the cmdlets: Start-DistHost, Stop-DistHost and New-DistJob's -WakeOnLan,
# -WakeLeadMinutes and -ShutdownAfter, with a manager and an agent as separate processes on 127.0.0.1. The agent's
# shutdown command only writes a line to a file.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'power'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $shutdownLog = [IO.Path]::Combine($scratch, 'shutdown.log')
    $shutdown = if ($IsWindows) { @('--shutdown-command', 'cmd.exe', '--shutdown-arguments', '/c', "echo shutdown>> `"$shutdownLog`"") }
                else { @('--shutdown-command', 'sh', '--shutdown-arguments', '-c', "echo shutdown >> '$shutdownLog'") }
    $manager = Start-TestManager
    $token = New-DistEnrollmentToken -Description 'power test'
    $agent = Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -Name 'pc-a' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-a')) `
        -ExtraArguments ($shutdown + @('--power-grace-seconds', '0'))
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while (@(Get-DistHost).Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
    $packageFolder = [IO.Path]::Combine($scratch, 'package')
    [void][IO.Directory]::CreateDirectory($packageFolder)
    [IO.File]::WriteAllText([IO.Path]::Combine($packageFolder, 'setup.cmd'), "exit 0")
    New-DistPackage -Name 'Patch' -Version '1.0' -Path $packageFolder -InstallCommand 'setup.cmd' | Out-Null
}

AfterAll {
    Stop-TestAgent $agent
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'Start-DistHost' {
    It 'sends the 102-byte magic packet for the MAC address the agent reported' {
        $udp = [Net.Sockets.UdpClient]::new([Net.IPEndPoint]::new([Net.IPAddress]::Loopback, 0))
        try {
            $udp.Client.ReceiveTimeout = 60000
            $result = Start-DistHost -Name 'pc-a' -BroadcastAddress 127.0.0.1 -Port $udp.Client.LocalEndPoint.Port -PassThru -WarningAction SilentlyContinue
            $result.HostName | Should -Be 'pc-a'
            $result.SentBy | Should -Be '(manager)'
            if ($null -eq $result.MacAddress) {
                # A computer whose interfaces show no MAC address: said, not skipped in silence.
                $result.Outcome | Should -Be 'NoMacAddress'
                $result.Message | Should -Match 'no MAC address is known'
                return
            }
            $result.Outcome | Should -Be 'Sent'
            $remote = [Net.IPEndPoint]::new([Net.IPAddress]::Any, 0)
            $packet = $udp.Receive([ref] $remote)
            $mac = [Convert]::FromHexString($result.MacAddress.Replace('-', '').Replace(':', ''))
            $expected = [byte[]](@(255, 255, 255, 255, 255, 255) + (@(1..16) | ForEach-Object { $mac }))
            $packet.Length | Should -Be 102
            [Convert]::ToHexString($packet) | Should -Be ([Convert]::ToHexString($expected))
        } finally {
            $udp.Dispose()
        }
    }

    It 'wakes nothing with -WhatIf' {
        $before = @(Get-DistAuditLog -Operation 'Start-DistHost').Count
        Start-DistHost -Name 'pc-a' -BroadcastAddress 127.0.0.1 -Port 9 -WhatIf | Should -BeNullOrEmpty
        @(Get-DistAuditLog -Operation 'Start-DistHost').Count | Should -Be $before
    }

    It 'refuses an address that is not one, and names a host it does not know' {
        { Start-DistHost -Name 'pc-a' -BroadcastAddress 'not-an-address' } | Should -Throw -ErrorId 'BroadcastAddressInvalid,*'
        { Start-DistHost -Name 'nobody' -ErrorAction Stop } | Should -Throw -ErrorId 'HostNotFound,*'
        { Start-DistHost -Name 'pc-a' -Port 0 } | Should -Throw
    }
}

Describe 'New-DistJob power switches' {
    It 'keeps -WakeOnLan, -WakeLeadMinutes and -ShutdownAfter on the job, and leaves them off unless asked' {
        $job = New-DistJob -Name 'night' -Package 'Patch' -Destination 'pc-a' -DistributeAt ([DateTime]::Now.AddDays(1)) -WakeOnLan -WakeLeadMinutes 15 -ShutdownAfter
        $job.WakeOnLan | Should -BeTrue
        $job.WakeLeadMinutes | Should -Be 15
        $job.ShutdownAfter | Should -BeTrue
        $plain = New-DistJob -Name 'day' -Package 'Patch' -Destination 'pc-a'
        $plain.WakeOnLan | Should -BeFalse
        $plain.ShutdownAfter | Should -BeFalse
    }

    It 'refuses -WakeLeadMinutes without -WakeOnLan and saves nothing' {
        { New-DistJob -Name 'lead only' -Package 'Patch' -Destination 'pc-a' -WakeLeadMinutes 5 } | Should -Throw -ErrorId 'WakeLeadWithoutWakeOnLan,*'
        Get-DistJob -Name 'lead only' | Should -BeNullOrEmpty
    }
}

Describe 'Stop-DistHost' {
    It 'asks the agent to shut down, and Get-DistHost says when it was asked and done' {
        Stop-DistHost -Name 'pc-a' -WhatIf | Should -BeNullOrEmpty
        $requested = Stop-DistHost -Name 'pc-a' -GraceSeconds 0 -Confirm:$false -PassThru
        $requested.State | Should -Be 'Requested'
        $requested.GraceSeconds | Should -Be 0
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while ((Get-DistHost -Name 'pc-a').PowerStatus -notmatch 'Shutdown done' -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        $status = (Get-DistHost -Name 'pc-a').PowerStatus
        $status | Should -Match '^Shutdown asked at .* Shutdown done: the agent ran the command at '
        [IO.File]::ReadAllLines($shutdownLog).Count | Should -Be 1
    }

    It 'refuses a grace out of range' {
        { Stop-DistHost -Name 'pc-a' -GraceSeconds 3601 } | Should -Throw
    }
}
