# Relays through the real pieces: a manager from Start-DistManager, two chained `jp1dist relay` processes and agents
# below them as processes. The two-stage distribution of the guide: transfer the package to the relays first, then
# install it on every client below the upper relay with its own execution.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'twostage'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $installer = New-TestPackageFolder ([IO.Path]::Combine($scratch, 'package')) $logs
    $manager = Start-TestManager
    $token = New-DistEnrollmentToken -Description 'two-stage test'
    $relayToken = New-DistEnrollmentToken -Description 'two-stage test relays' -Relay
    $relays = @{}

    function Get-FreeLoopbackUrl {
        $listener = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
        $listener.Start()
        try { "http://127.0.0.1:$($listener.LocalEndpoint.Port)" } finally { $listener.Stop() }
    }

    # Starts `jp1dist relay` below $HigherUrl and waits (bounded) until the manager lists it.
    function Start-TestRelay([string] $Name, [string] $HigherUrl) {
        $url = Get-FreeLoopbackUrl
        $start = [Diagnostics.ProcessStartInfo]::new($script:Jp1Dist)
        foreach ($argument in @('relay', '--manager', $HigherUrl, '--token', $relayToken.Token, '--listen', $url, '--name', $Name,
                '--state', [IO.Path]::Combine($scratch, "relay-$Name"))) { $start.ArgumentList.Add($argument) }
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $start.UseShellExecute = $false
        $process = [Diagnostics.Process]::Start($start)
        $process.BeginOutputReadLine()
        $process.BeginErrorReadLine()
        $relays[$Name] = [pscustomobject]@{ Process = $process; Url = $url }
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not (Get-DistHost -Name $Name -ErrorAction SilentlyContinue)) {
            if ([DateTime]::UtcNow -gt $deadline -or $process.HasExited) { throw "Relay $Name did not register." }
            [Threading.Thread]::Sleep(200)
        }
        $relays[$Name]
    }

    function Invoke-Agent([string] $Name, [string] $HigherUrl) {
        $run = Start-TestAgent -ManagerUrl $HigherUrl -Token $token.Token -Name $Name -StateFolder ([IO.Path]::Combine($scratch, "agent-$Name")) -Once
        if ($run.ExitCode -ne 0) { throw "Agent $Name exited with $($run.ExitCode): $($run.Output)" }
    }

    function Get-ContentBytesServed([string] $Url) {
        # The product's own pinned handler (from the module's load context) for a manager on HTTPS, as in remote mode.
        $http = if ($manager.CertificatePin) {
            $pinning = [AppDomain]::CurrentDomain.GetAssemblies().Where({ $_.GetName().Name -eq 'JP1Dist.Protocol' })[0].GetType('JP1Dist.Protocol.Tls.CertificatePinning')
            [Net.Http.HttpClient]::new($pinning::CreateHandler($manager.CertificatePin, $null))
        }
        else { [Net.Http.HttpClient]::new() }
        try {
            $text = $http.GetStringAsync("$Url/metrics").GetAwaiter().GetResult()
            $line = $text -split "`n" | Where-Object { $_ -like 'jp1dist_content_bytes_served_total *' }
            [double]($line -split ' ')[1]
        } finally { $http.Dispose() }
    }

    $upper = Start-TestRelay 'relay-upper' $manager.Url
    $lower = Start-TestRelay 'relay-lower' $upper.Url
    Invoke-Agent 'pc-a' $upper.Url
    Invoke-Agent 'pc-b' $lower.Url
}

AfterAll {
    foreach ($relay in $relays.Values) { Stop-TestAgent $relay.Process }
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'The hierarchy' {
    It 'shows every host with its kind and higher system, in tree order' {
        $hosts = @(Get-DistHost)
        $hosts.Name | Should -Be @('relay-upper', 'pc-a', 'relay-lower', 'pc-b')
        ($hosts | Where-Object Name -eq 'relay-upper').Kind | Should -Be 'Relay'
        ($hosts | Where-Object Name -eq 'relay-lower').HigherSystem | Should -Be 'relay-upper'
        ($hosts | Where-Object Name -eq 'pc-b').HigherSystem | Should -Be 'relay-lower'
        ($hosts | Where-Object Name -eq 'pc-b').Depth | Should -Be 2
        @(Get-DistHost -HigherSystem 'relay-upper' -Recurse).Name | Should -Be @('pc-a', 'relay-lower', 'pc-b')
    }
}

Describe 'Two-stage distribution' {
    It 'transfers the package to both relays, which store it until it expires' {
        $expires = [DateTime]::Now.AddHours(2)
        New-DistPackage -Name 'Office' -Version '16.0' -Path ([IO.Path]::Combine($scratch, 'package')) -InstallCommand $installer -InstallArguments $logs -ExpiresAt $expires | Out-Null
        New-DistJob -Name 'Office to relays' -Package 'Office' -Destination 'relay-upper', 'relay-lower' -Type TransferToRelay | Out-Null
        Start-DistJob -Name 'Office to relays' | Out-Null
        Wait-DistJob -Name 'Office to relays' -Timeout 90
        $status = @(Get-DistJobStatus -Job 'Office to relays')
        $status.Status | Should -Be @('StoredOnRelay', 'StoredOnRelay')
        foreach ($s in $status) { [Math]::Abs(($s.StoredUntil - $expires).TotalSeconds) | Should -BeLessThan 1 }
        @(Get-InstallLog $logs 'relay-upper').Count | Should -Be 0
    }

    It 'installs on every client below the upper relay, at all levels, from the relays'' caches' {
        $package = Get-DistPackage -Name 'Office'
        New-DistJob -Name 'Office everywhere' -Package 'Office' -Destination 'relay-upper' -DestinationType AllLowerClients | Out-Null
        Start-DistJob -Name 'Office everywhere' | Out-Null
        Invoke-Agent 'pc-a' $upper.Url
        Invoke-Agent 'pc-b' $lower.Url
        Wait-DistJob -Name 'Office everywhere' -Timeout 90
        $status = @(Get-DistJobStatus -Job 'Office everywhere')
        $names = [string[]]$status.HostName
        [Array]::Sort($names, [StringComparer]::OrdinalIgnoreCase)
        $names | Should -Be @('pc-a', 'pc-b', 'relay-lower')
        $status.Status | Should -Be @('Succeeded', 'Succeeded', 'Succeeded')
        @(Get-InstallLog $logs 'pc-b').Count | Should -Be 1
        @(Get-InstallLog $logs 'relay-lower').Count | Should -Be 1
        # The manager sent the package once, to the upper relay; the lower relay took it from there.
        Get-ContentBytesServed $manager.Url | Should -Be $package.TotalBytes
    }

    It 'refuses to transfer again what both relays hold until it expires' {
        { Start-DistJob -Name 'Office to relays' -ErrorAction Stop } | Should -Throw -ErrorId 'AlreadyStoredOnRelays,*'
    }
}
