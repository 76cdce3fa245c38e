# Every example of the cmdlet help (docs/cmdlets, the source of Get-Help) runs, as written, against a scratch manager.
# One fixture holds what the examples name (packages, hosts, groups, jobs, keys, tokens); each example runs in a scope
# of its own on its own copy of the fixture's data folder, so examples that remove or change things do not disturb the
# others. Windows paths and public addresses in the examples are mapped onto scratch files and 127.0.0.1 (the table in
# Get-ExampleCode); examples that need a running manager and agents get them. An example that cannot run here is
# listed in $NotRunnable with the reason: an example neither runnable nor listed fails, so none is skipped silently.

BeforeDiscovery {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))

    # The one list of examples that do not run on this platform, with why.
    $NotRunnable = @{
        'Connect-DistManager Example 2'  = 'needs a manager whose certificate a certification authority this computer trusts issued, and a key file in the home folder'
        'Start-DistManager Example 2'    = 'New-NetFirewallRule is a Windows command'
        'Start-DistManager Example 4'    = 'Read-Host prompts for the password, and the example needs a PFX file the organization''s CA issued'
    }

    $cases = foreach ($example in Get-HelpExample) {
        @{ Key = $example.Key; Statements = $example.Statements; Reason = $NotRunnable[$example.Key] }
    }
    $listed = @{ Listed = @($NotRunnable.Keys); Known = @($cases.ForEach({ $_.Key })) }
}

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    # The examples start and stop managers and agents on this computer: they run in local mode only. Each runs on a
    # copy of the fixture's data folder, which copies a SQLite database; a PostgreSQL one (JP1DIST_DATABASE) is shared.
    $sharedDatabase = [bool]$env:JP1DIST_DATABASE
    if ($Remote -or $sharedDatabase) { return }
    $scratch = New-TestFolder 'examples'
    $fixture = [IO.Path]::Combine($scratch, 'fixture')
    $agentStates = [IO.Path]::Combine($scratch, 'agents')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $share = [IO.Path]::Combine($scratch, 'share')
    $env:JP1DIST_HOME = $fixture
    $originalHome = $fixture
    $originalData = $env:XDG_DATA_HOME
    $script:runNumber = 0

    function Copy-Folder([string] $From, [string] $To) {
        [void][IO.Directory]::CreateDirectory($To)
        foreach ($file in [IO.Directory]::GetFiles($From)) {
            # A SQLite index of shared memory is rebuilt from the database and its log; it is not copied.
            if ($file.EndsWith('-shm')) { continue }
            [IO.File]::Copy($file, [IO.Path]::Combine($To, [IO.Path]::GetFileName($file)))
        }
        foreach ($folder in [IO.Directory]::GetDirectories($From)) {
            Copy-Folder $folder ([IO.Path]::Combine($To, [IO.Path]::GetFileName($folder)))
        }
    }

    function New-File([string] $Path, [string] $Text) {
        [void][IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($Path))
        [IO.File]::WriteAllText($Path, $Text)
        $Path
    }

    # An agent process whose output is read as it comes, so that it never waits on a full pipe.
    function Start-ReadAgent([hashtable] $With) {
        $process = Start-TestAgent @With
        @{ Process = $process; Output = $process.StandardOutput.ReadToEndAsync(); Errors = $process.StandardError.ReadToEndAsync() }
    }

    # Agents as processes, all at once, each doing its pending work (--once); returns when every one has ended.
    function Invoke-Agents([string] $ManagerUrl, [string] $Token, [string[]] $Names) {
        $running = foreach ($name in $Names) {
            $agent = Start-ReadAgent @{ ManagerUrl = $ManagerUrl; Token = $Token; Name = $name; StateFolder = [IO.Path]::Combine($agentStates, $name); ExtraArguments = '--once' }
            $agent.Name = $name
            $agent
        }
        foreach ($agent in $running) {
            if (-not $agent.Process.WaitForExit(120000)) { Stop-TestAgent $agent.Process; throw "Agent $($agent.Name) did not finish within 120 s." }
            $agent.Process.WaitForExit()
            # 0 all done, 1 an install failed (the broken host's, on purpose).
            if ($agent.Process.ExitCode -notin 0, 1) { throw "Agent $($agent.Name) exited with $($agent.Process.ExitCode): $($agent.Output.Result)$($agent.Errors.Result)" }
        }
    }

    # ---- The fixture: what the examples name. ----
    $installer = New-TestPackageFolder ([IO.Path]::Combine($share, 'installer')) $logs
    [IO.File]::WriteAllText([IO.Path]::Combine($logs, 'broken-PC-0007'), 'fails on purpose')
    $installerFolder = [IO.Path]::Combine($share, 'installer')
    function New-FixturePackage([string] $Name, [string] $Version, [hashtable] $More = @{}) {
        New-DistPackage -Name $Name -Version $Version -Path $installerFolder -InstallCommand $installer -InstallArguments $logs @More | Out-Null
    }

    # Tokens in a known order: Id 7 is the one the examples say leaked, and hosts wait for approval through it.
    $agentToken = New-DistEnrollmentToken -Description 'Sales office PCs, 2024-11'
    $relayToken = New-DistEnrollmentToken -Description 'Branch relays' -Relay
    $osakaToken = New-DistEnrollmentToken -Description 'Osaka PCs' -RequireApproval
    New-DistEnrollmentToken -Description 'Imaging, batch 6' -MaxUses 50 | Out-Null
    New-DistEnrollmentToken -Description 'Kiosks' | Out-Null
    New-DistEnrollmentToken -Description 'Lab' | Out-Null
    $leakedToken = New-DistEnrollmentToken -Description 'Branch rollout' -RequireApproval
    if ($leakedToken.Id -ne 7) { throw "The fixture expects token Id 7 to be the leaked one, got $($leakedToken.Id)." }

    New-FixturePackage '7-Zip' '23.01'
    New-FixturePackage '7-Zip' '24.08'
    New-FixturePackage 'Java Runtime' '8.0.421'
    New-FixturePackage 'Java Runtime' '8.0.431'
    New-FixturePackage 'Office LTSC' '2024.1'
    New-FixturePackage 'AntiVirus' '1.0'
    New-FixturePackage 'Editor' '2.1'
    New-FixturePackage 'Agent Upgrade' '5.1'
    New-FixturePackage 'Office' '2026.1' @{ ExpiresAt = [DateTime]::Now.AddMonths(3) }
    New-FixturePackage 'Patch' '2024.11'
    New-FixturePackage 'Visio' '2024'
    New-FixturePackage 'Test App' '0.9-beta'
    New-FixturePackage 'Browser' '2024.11'
    New-FixturePackage 'Diagram-Editor' '4.1' @{ Description = 'Draws network and floor plans' }
    New-FixturePackage 'Diagram-Editor' '4.2' @{ Description = 'Draws network and floor plans' }
    New-FixturePackage 'PDF-Reader' '11.0.3' @{ Description = 'Reads and annotates PDF files' }

    # Hosts that run jobs: real agents through a manager. The others register through the engine, as a registration
    # reaching the manager does (Relays.Tests.ps1), with no MAC address: the examples that wake computers
    # (Start-DistHost, -WakeOnLan) name only those, so that no magic packet is sent to this computer's real network.
    $manager = Start-DistManager -Listen 'http://127.0.0.1:0'
    $agentHosts = 'PC-0001', 'PC-0007', 'PC-0019', 'PC-0042', 'PC-LAB-07'
    # design-01 is the computer of the user the offers of user-choice jobs go to (Get-/Install-DistAvailablePackage).
    Invoke-Agents $manager.Url $agentToken.Token ($agentHosts + 'design-01')

    $loaded = [AppDomain]::CurrentDomain.GetAssemblies()
    $engine = $loaded.Where({ $_.GetName().Name -eq 'JP1Dist.Core' })[0].GetType('JP1Dist.Core.DistEngine')::ForFolder($fixture)
    $requestType = $loaded.Where({ $_.GetName().Name -eq 'JP1Dist.Protocol' })[0].GetType('JP1Dist.Protocol.RegisterRequest')
    function Register-FixtureHost([string] $Name, [string] $Address, [string] $Token = $agentToken.Token, [string] $Kind, [string] $Under) {
        $parent = if ($Under) { [Nullable[Guid]](Get-DistHost -Name $Under).Id } else { [Nullable[Guid]]$null }
        $request = $requestType::new($Token, $Name, 'Windows', '10.0.19045', 'X64', [string[]]@($Address), $null, '1.0', $null, $Kind, $null, $null, $null)
        [void]$engine.Hosts.RegisterAsync($request, $parent, [Threading.CancellationToken]::None).GetAwaiter().GetResult()
    }
    $i = 10
    foreach ($name in 'PC-0002', 'PC-0003', 'SALES-0001', 'SALES-0042', 'KIOSK-01', 'KIOSK-07', 'it-pc01', 'it-pc02', 'office-01', 'training-01', 'training-02', 'lab-pc-03', 'LAPTOP-0815', 'SHIP-PC-01') {
        Register-FixtureHost $name "10.1.4.$((++$i))"
    }
    Register-FixtureHost 'RELAY-OSAKA' '10.2.0.1' $relayToken.Token 'Relay'
    Register-FixtureHost 'OSAKA-PC01' '10.2.0.11' -Under 'RELAY-OSAKA'
    Register-FixtureHost 'RELAY-OSAKA-2F' '10.2.1.1' $relayToken.Token 'Relay' 'RELAY-OSAKA'
    Register-FixtureHost 'OSAKA-PC21' '10.2.1.21' -Under 'RELAY-OSAKA-2F'
    # Waiting for approval: a new computer of Osaka, two through the leaked token, and a replacement of PC-0042.
    Register-FixtureHost 'OSAKA-PC05' '10.2.0.15' $osakaToken.Token
    Register-FixtureHost 'PC-0107' '10.2.0.107' $leakedToken.Token
    Register-FixtureHost 'UNKNOWN-LAPTOP' '10.9.9.9' $leakedToken.Token
    Register-FixtureHost 'PC-0042' '10.1.4.42' $leakedToken.Token

    New-DistHostGroup -Name 'Sales' -Description 'Sales department PCs' | Out-Null
    Add-DistHostGroupMember -Group 'Sales' -HostName 'SALES-0001', 'SALES-0042'
    New-DistHostGroup -Name 'Accounting' | Out-Null
    Add-DistHostGroupMember -Group 'Accounting' -HostName 'PC-0007', 'PC-0019'
    New-DistHostGroup -Name 'Company' | Out-Null
    Add-DistHostGroupMember -Group 'Company' -MemberGroup 'Accounting'
    New-DistHostGroup -Name 'Pilot users' | Out-Null
    Add-DistHostGroupMember -Group 'Pilot users' -HostName 'PC-0001'
    New-DistHostGroup -Name 'Project X' | Out-Null

    New-DistIdGroup -Name 'ID_NEWCLT' | Out-Null
    Set-DistIdGroupPolicy -IdGroup 'ID_NEWCLT' -Rule @{ HostName = 'NEW-*'; IPAddress = '10.1.0.0/16' }
    Register-FixtureHost 'NEW-PC01' '10.1.5.1'
    New-DistIdGroup -Name 'ID_NEWCLT2' | Out-Null
    New-DistIdGroup -Name 'Kiosks' -Description 'Lobby kiosks, added by hand' | Out-Null
    Add-DistIdGroupMember -IdGroup 'Kiosks' -HostName 'KIOSK-07'
    New-DistIdGroup -Name 'Office 2024' | Out-Null
    New-DistIdGroup -Name 'Test lab' | Out-Null

    # Jobs that have run: PC-0001 and PC-0042 succeed, PC-0007 fails, PC-0019 and PC-LAB-07 were offline.
    New-DistJob -Name 'Deploy 7-Zip 24.08' -Package '7-Zip' -Destination 'PC-0001', 'PC-0007', 'PC-0019', 'PC-LAB-07' | Start-DistJob | Out-Null
    New-DistJob -Name 'Monthly Browser Update' -Package 'Browser' -Destination 'PC-0001' | Start-DistJob | Out-Null
    New-DistJob -Name 'Monthly Java Update' -Package 'Java Runtime' -Destination 'PC-0001' | Start-DistJob | Out-Null
    New-DistJob -Name 'Patch-2024-11-12' -Package 'Patch' -Destination 'PC-0001', 'PC-0042' | Start-DistJob | Out-Null
    New-DistJob -Name 'Pilot 7-Zip' -Package '7-Zip' -Destination 'PC-0001' | Start-DistJob | Out-Null
    # Offers the user of design-01 sees.
    New-DistJob -Name 'Visio for whoever wants it' -Package 'Visio' -Destination 'design-01' -Type UserChoice | Start-DistJob | Out-Null
    New-DistJob -Name 'Diagram-Editor offered' -Package 'Diagram-Editor' -Destination 'design-01' -Type UserChoice | Start-DistJob | Out-Null
    New-DistJob -Name 'PDF-Reader offered' -Package 'PDF-Reader' -Destination 'design-01' -Type UserChoice | Start-DistJob | Out-Null
    Invoke-Agents $manager.Url $agentToken.Token 'PC-0001', 'PC-0007', 'PC-0042', 'design-01'
    # Jobs under way: their hosts have not connected since.
    New-DistJob -Name 'Office LTSC 2024' -Package 'Office LTSC' -Destination 'PC-0007', 'PC-0019' | Start-DistJob | Out-Null
    New-DistJob -Name 'Wrong package' -Package 'Test App' -Destination 'PC-0002' | Start-DistJob | Out-Null
    New-DistJob -Name 'Editor to Sales' -Package 'Editor' -Destination 'Sales' -DestinationType HostGroup | Start-DistJob | Out-Null
    New-DistJob -Name 'Office update' -Package 'Office' -Destination 'SHIP-PC-01' | Start-DistJob | Out-Null
    New-DistJob -Name 'Patch night' -Package 'Patch' -Destination 'training-01', 'training-02' | Start-DistJob | Out-Null
    # Saved, never executed.
    New-DistJob -Name 'Office to Osaka relay' -Package 'Office' -Destination 'RELAY-OSAKA' -Type TransferToRelay | Out-Null
    New-DistJob -Name 'Weekend Patches' -Package 'Patch' -Destination 'PC-0001' | Out-Null
    # The manager hands the executions' work out (Waiting, then Queued for the hosts' next connection) before it stops.
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    while (@(Get-DistJobStatus -Status Waiting).Count -gt 0) {
        if ([DateTime]::UtcNow -gt $deadline) { throw 'The manager did not queue the executed jobs within 60 s.' }
        [Threading.Thread]::Sleep(200)
    }
    Stop-DistManager

    New-DistAccessKey -Name 'Monitoring' -Role Reader -Description 'Nagios check of job status' | Out-Null
    New-DistAccessKey -Name 'Night shift' -Role Operator -ExpiresIn ([TimeSpan]::FromDays(90)) | Out-Null
    New-DistAccessKey -Name 'Lab 1' -Role Administrator | Out-Null

    # Files the examples read, where the examples' Windows paths point (see Get-ExampleCode).
    $files = [IO.Path]::Combine($scratch, 'files')
    $accountingList = New-File ([IO.Path]::Combine($files, 'accounting-pcs.txt')) "PC-0007`nPC-0019`n"
    $decommissioned = New-File ([IO.Path]::Combine($files, 'decommissioned.txt')) "LAPTOP-0815`nlab-pc-03`n"
    $tokenFile = New-File ([IO.Path]::Combine($files, 'token.txt')) $agentToken.Token
    $sevenZip = [IO.Path]::Combine($share, '7-Zip')
    New-File ([IO.Path]::Combine($sevenZip, '7z2408-x64.msi')) 'msi' | Out-Null
    $jre = [IO.Path]::Combine($share, 'jre-8u431')
    New-File ([IO.Path]::Combine($jre, 'install.cmd')) 'exit 0' | Out-Null
    $agentUpgrade = [IO.Path]::Combine($share, 'agent-5.2')
    New-File ([IO.Path]::Combine($agentUpgrade, 'setup.cmd')) 'exit 0' | Out-Null
    $officeShare = [IO.Path]::Combine($share, 'Office')
    New-File ([IO.Path]::Combine($officeShare, 'setup.exe')) 'setup' | Out-Null
    $drivers = [IO.Path]::Combine($share, 'Drivers')
    New-File ([IO.Path]::Combine($drivers, 'Printer', 'install.cmd')) 'exit 0' | Out-Null
    New-File ([IO.Path]::Combine($drivers, 'Scanner', 'install.cmd')) 'exit 0' | Out-Null
    $catalog = New-File ([IO.Path]::Combine($share, 'catalog.csv')) ("Name,Version,Path,InstallCommand`n" +
        "Printer Driver,3.1,$([IO.Path]::Combine($drivers, 'Printer')),install.cmd`n" +
        "Scanner Driver,2.0,$([IO.Path]::Combine($drivers, 'Scanner')),install.cmd`n")

    # Media that went to PC-LAB-07 and came back with its result, as `jp1dist offline` leaves it (the laptop's agent
    # state pins the manager's signing key).
    $returned = [IO.Path]::Combine($scratch, 'returned')
    $labMedia = [IO.Path]::Combine($returned, 'PC-LAB-07')
    Export-DistOfflineMedia -Job 'Deploy 7-Zip 24.08' -HostName 'PC-LAB-07' -Path $labMedia | Out-Null
    $offline = [Diagnostics.ProcessStartInfo]::new($Jp1Dist)
    foreach ($argument in 'offline', '--media', $labMedia, '--state', [IO.Path]::Combine($agentStates, 'PC-LAB-07'), '--name', 'PC-LAB-07') { $offline.ArgumentList.Add($argument) }
    $offline.RedirectStandardOutput = $true; $offline.RedirectStandardError = $true
    $offlineRun = [Diagnostics.Process]::Start($offline)
    $offlineOutput = $offlineRun.StandardOutput.ReadToEndAsync(); $offlineErrors = $offlineRun.StandardError.ReadToEndAsync()
    if (-not $offlineRun.WaitForExit(120000)) { $offlineRun.Kill($true); throw 'jp1dist offline did not finish within 120 s.' }
    $offlineRun.WaitForExit()
    if ($offlineRun.ExitCode -ne 0) { throw "jp1dist offline exited with $($offlineRun.ExitCode): $($offlineOutput.Result)$($offlineErrors.Result)" }

    # What each example finds in place before it runs, beyond the fixture: examples that create what the fixture
    # holds (for the other examples) run after it was removed; those that resume or stop something find it suspended
    # or started.
    $Prepare = @{
        'New-DistPackage Example 1'  = "Remove-DistPackage '7-Zip' '24.08' -Force -Confirm:`$false"
        'New-DistPackage Example 2'  = "Remove-DistPackage 'Java Runtime' '8.0.431' -Force -Confirm:`$false"
        'New-DistPackage Example 6'  = "Remove-DistPackage 'Office' '2026.1' -Force -Confirm:`$false"
        'New-DistJob Example 1'      = "Remove-DistJob 'Deploy 7-Zip 24.08' -Force -Confirm:`$false"
        'New-DistJob Example 4'      = "Remove-DistIdGroup 'ID_NEWCLT' -Confirm:`$false"
        'New-DistIdGroup Example 1'  = "Remove-DistIdGroup 'ID_NEWCLT' -Confirm:`$false"
        'New-DistIdGroup Example 2'  = "Remove-DistIdGroup 'Kiosks' -Confirm:`$false"
        'New-DistHostGroup Example 1' = "Remove-DistJob 'Editor to Sales' -Force -Confirm:`$false; Remove-DistHostGroup 'Sales' -Confirm:`$false"
        'New-DistJob Example 9'      = "Remove-DistJob 'Office to Osaka relay' -Force -Confirm:`$false"
        'New-DistJob Example 10'     = "Remove-DistJob 'Patch night' -Force -Confirm:`$false"
        'New-DistJob Example 11'     = "Remove-DistJob 'Visio for whoever wants it' -Force -Confirm:`$false"
        'New-DistAccessKey Example 1' = "Remove-DistAccessKey 'Monitoring' -Confirm:`$false"
        'New-DistAccessKey Example 2' = "Remove-DistAccessKey 'Night shift' -Confirm:`$false"
        # An older version offered beside the newer one; the example installs it.
        'Install-DistAvailablePackage Example 3' = "New-DistJob 'Diagram-Editor 4.1 offered' -Package 'Diagram-Editor' -PackageVersion '4.1' -Destination 'design-01' -Type UserChoice | Start-DistJob | Out-Null"
        'Restart-DistJob Example 4'  = "Stop-DistJob 'Office LTSC 2024' -Confirm:`$false"
        'Resume-DistJob Example 1'   = "Suspend-DistJob 'Office LTSC 2024' -Confirm:`$false"
        'Resume-DistJob Example 2'   = "Suspend-DistJob 'Office LTSC 2024' -Confirm:`$false"
        'Stop-DistManager Example 1' = "Start-DistManager -Listen 'http://127.0.0.1:0' | Out-Null"
        'Connect-DistManager Example 1' = "`$pin = (Start-DistManager -Listen 'https://127.0.0.1:0').CertificatePin; `$key = (New-DistAccessKey -Name 'alice-workstation' -Role Administrator).Key"
    }

    # Examples that wait for agents to finish what they start: the agents of these hosts run while the example does
    # (against a manager the example starts, or one started for it).
    $Live = @{
        'Start-DistJob Example 1'    = 'PC-0001', 'PC-0007', 'PC-0019', 'PC-LAB-07'
        'Wait-DistJob Example 1'     = 'PC-0001', 'PC-0007', 'PC-0019', 'PC-LAB-07'
        # An older version offered beside the newer one; the example installs it.
        'Install-DistAvailablePackage Example 3' = "New-DistJob 'Diagram-Editor 4.1 offered' -Package 'Diagram-Editor' -PackageVersion '4.1' -Destination 'design-01' -Type UserChoice | Start-DistJob | Out-Null"
        'Restart-DistJob Example 4'  = 'PC-0007', 'PC-0019'
        'Stop-DistManager Example 2' = @('PC-0001')
    }
    $agentSide = 'Get-DistAvailablePackage Example 1', 'Get-DistAvailablePackage Example 2', 'Get-DistAvailablePackage Example 3',
        'Install-DistAvailablePackage Example 1', 'Install-DistAvailablePackage Example 2', 'Install-DistAvailablePackage Example 3'
    foreach ($key in $agentSide) { $Live[$key] = @('design-01') }
    $examplesStartingManager = 'Stop-DistManager Example 2'

    # The example's text with the documentation's world (file shares, drives, public addresses) mapped onto this run's
    # scratch folders and 127.0.0.1. Each pair is exact text of the examples.
    function Get-ExampleCode([string] $Key, [string[]] $Statements, [string] $Run) {
        $out = [IO.Path]::Combine($Run, 'out')
        [void][IO.Directory]::CreateDirectory($out)
        $map = [ordered]@{
            "'\\FS01\Packages\7-Zip\24.08'"                = "'$sevenZip'"
            "'D:\Staging\jre-8u431'"                       = "'$jre'"
            "'\\FS01\Packages\Drivers'"                    = "'$drivers'"
            "'\\FS01\Packages\catalog.csv'"                = "'$catalog'"
            "'D:\Staging\agent-5.2'"                       = "'$agentUpgrade'"
            "'\\FS01\Packages\Office'"                     = "'$officeShare'"
            "'\\FS01\IT\Lists\accounting-pcs.txt'"         = "'$accountingList'"
            "'\\FS01\IT\Lists\decommissioned.txt'"         = "'$decommissioned'"
            "'\\FS01\Deploy\token.txt'"                    = "'$tokenFile'"
            "'\\FS01\Reports\patch-failures.csv'"          = "'$([IO.Path]::Combine($out, 'patch-failures.csv'))'"
            '"\\FS01\Reports\$job failures.csv"'           = "`"$([IO.Path]::Combine($out, '$job failures.csv'))`""
            "'\\vault\jp1dist\night-shift.key'"            = "'$([IO.Path]::Combine($out, 'night-shift.key'))'"
            "'E:\PC-LAB-07'"                               = "'$labMedia'"
            "'E:\Returned'"                                = "'$returned'"
            "'D:\Outbox\SHIP-PC-01.zip'"                   = "'$([IO.Path]::Combine($out, 'SHIP-PC-01.zip'))'"
            '"E:\$($_.HostName)"'                          = "`"$([IO.Path]::Combine($out, '$($_.HostName)'))`""
            "'D:\JP1Dist\Lab'"                             = "'$([IO.Path]::Combine($Run, 'lab'))'"
            "'D:\JP1Dist\Logs\monthly-updates.log'"        = "'$([IO.Path]::Combine($out, 'monthly-updates.log'))'"
            "'\\corp.example.com\SYSVOL\corp.example.com\Policies\{GPO-GUID}\Machine\Scripts\Startup\jp1dist-agent.cmd'" = "'$([IO.Path]::Combine($out, 'jp1dist-agent.cmd'))'"
            "'https://0.0.0.0:22400'"                      = "'https://127.0.0.1:0'"
            '-BroadcastAddress 10.30.0.255'                = '-BroadcastAddress 127.0.0.1'
        }
        if ($Key -eq 'Connect-DistManager Example 1') { $map['https://DIST01.corp.example.com:22400'] = '(Get-DistManager).Url' }
        # Media are written to a new folder; the returned ones hold a result.
        if ($Key -like 'Export-DistOfflineMedia *') { $map["'E:\PC-LAB-07'"] = "'$([IO.Path]::Combine($out, 'PC-LAB-07'))'" }
        # The agent of design-01 keeps its state where the examples' 'D:\JP1Dist\agent' and the default folder point.
        $map["'D:\JP1Dist\agent'"] = "'$(Get-UserAgentState $Run)'" 
        $code = $Statements -join "`n"
        foreach ($pair in $map.GetEnumerator()) { $code = $code.Replace($pair.Key, $pair.Value) }
        $code
    }

    # The state folder of the user's agent in a run: the default folder of an agent of this computer, for
    # XDG_DATA_HOME = <run>/data (the cmdlets without -StatePath look there).
    function Get-UserAgentState([string] $Run) {
        [IO.Path]::Combine($Run, 'data', 'JP1Dist', 'agent-' + [Environment]::MachineName)
    }

    # Modules of this session the example's runspace gets too: the product's and the Utility and Management cmdlets.
    $modulePaths = @(
        [IO.Path]::Combine($RepoRoot, 'out', 'JP1Dist', 'JP1Dist.psd1')
        (Get-Command Get-Date).Module.Path
        (Get-Command Get-Content).Module.Path
    )

    # The runspace the examples run in, one after the other, each in a scope of its own (a new runspace for each would
    # cost a quarter of a second, most of this file's time).
    $exampleState = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
    $exampleState.ImportPSModule([string[]]$modulePaths)
    $exampleRunspace = [Management.Automation.Runspaces.RunspaceFactory]::CreateRunspace($exampleState)
    $exampleRunspace.Open()

    # Runs one example on a copy of the fixture; returns its terminating error (or $null), its non-terminating errors
    # and its output as text. What $Prepare gives it runs first, in its scope, and must not fail. Confirmation is
    # answered yes ($ConfirmPreference None), as a user at the prompt would; nothing may prompt.
    function Invoke-Example([string] $Key, [string[]] $Statements) {
        $run = [IO.Path]::Combine($scratch, 'run-' + (++$script:runNumber))
        $runHome = [IO.Path]::Combine($run, 'home')
        Copy-Folder $fixture $runHome
        $env:JP1DIST_HOME = $runHome
        $env:XDG_DATA_HOME = [IO.Path]::Combine($run, 'data')
        $agents = [Collections.Generic.List[Diagnostics.Process]]::new()
        $code = Get-ExampleCode $Key $Statements $run
        $shell = [PowerShell]::Create()
        $shell.Runspace = $exampleRunspace
        $globals = $null
        try {
            $exampleRunspace.SessionStateProxy.Path.SetLocation($run) | Out-Null
            $exampleRunspace.SessionStateProxy.SetVariable('ConfirmPreference', 'None')
            $globals = @($exampleRunspace.SessionStateProxy.InvokeCommand.InvokeScript('(Get-Variable -Scope Global).Name'))
            if ($Prepare[$Key]) {
                # In the session's scope, so that the example sees what it defines; removed after the example.
                [void]$shell.AddScript(". {`n`$ErrorActionPreference = 'Stop'`n$($Prepare[$Key])`n}`n`$ErrorActionPreference = 'Continue'").Invoke()
                if ($shell.HadErrors) { throw "Preparing $Key failed: $($shell.Streams.Error)" }
                $shell.Commands.Clear()
            }
            [void]$shell.AddScript("& {`n$code`n} | Out-String -Width 120")
            $output = [Management.Automation.PSDataCollection[psobject]]::new()
            $limit = [DateTime]::UtcNow.AddSeconds($(if ($Live.ContainsKey($Key)) { 240 } else { 90 }))
            # The agents of the example's hosts run against the manager of the data folder (one started for the example
            # before it runs, or the one it starts), each from a copy of its state.
            $startAgents = {
                param($Running)
                foreach ($name in $Live[$Key]) {
                    $copy = if ($name -eq 'design-01') { Get-UserAgentState $run } else { [IO.Path]::Combine($run, 'agent-' + $name) }
                    Copy-Folder ([IO.Path]::Combine($agentStates, $name)) $copy
                    $agents.Add((Start-ReadAgent @{ ManagerUrl = $Running.Url; CertificatePin = $Running.CertificatePin; Name = $name; StateFolder = $copy }).Process)
                }
            }
            if ($Live.ContainsKey($Key) -and $Key -notin $examplesStartingManager) {
                & $startAgents (Start-DistManager -Listen 'http://127.0.0.1:0')
                if ($Key -in $agentSide) {
                    # The user's commands need the agent's local channel, and the agent the offers from its first poll.
                    # (AgentNotRunning, terminating, until the agent has opened its channel.)
                    # Offers: user-choice targets, Available or still to be handed over (Waiting for the manager, Queued).
                    $offers = @(Get-DistJobStatus -HostName 'design-01' -Status Available, Queued, Waiting).Count
                    while (@(try { Get-DistAvailablePackage -StatePath (Get-UserAgentState $run) -ErrorAction SilentlyContinue } catch { }).Count -lt $offers) {
                        if ([DateTime]::UtcNow -gt $limit) { throw "The agent of design-01 did not offer its packages in time." }
                        [Threading.Thread]::Sleep(200)
                    }
                }
            }
            $async = $shell.BeginInvoke([Management.Automation.PSDataCollection[psobject]]$null, $output)
            if ($Key -in $examplesStartingManager) {
                while (-not ($running = Get-DistManager) -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $limit) { [Threading.Thread]::Sleep(100) }
                if ($running) { & $startAgents $running }
            }
            if (-not $async.AsyncWaitHandle.WaitOne([Math]::Max(0, ($limit - [DateTime]::UtcNow).TotalMilliseconds))) {
                $shell.Stop()
                throw "$Key did not finish within its time."
            }
            $failure = $null
            try { [void]$shell.EndInvoke($async) } catch { $failure = $_ }
            [pscustomobject]@{
                Failure = $failure
                Errors  = @($shell.Streams.Error)
                Output  = "$($output)"
            }
        }
        finally {
            foreach ($agent in $agents) { Stop-TestAgent $agent }
            $shell.Commands.Clear()
            [void]$shell.AddScript('if ((Get-DistManager -Connection).Remote) { Disconnect-DistManager }; if (Get-DistManager) { Stop-DistManager }').Invoke()
            foreach ($name in @($exampleRunspace.SessionStateProxy.InvokeCommand.InvokeScript('(Get-Variable -Scope Global).Name'))) {
                if ($null -ne $globals -and "$name" -notin $globals) { $exampleRunspace.SessionStateProxy.PSVariable.Remove("$name") }
            }
            $shell.Dispose()
            $env:JP1DIST_HOME = $originalHome
            $env:XDG_DATA_HOME = $originalData
            Remove-TestFolder $run
        }
    }
}

AfterAll {
    if ($Remote -or $sharedDatabase) { return }
    if ($exampleRunspace) { $exampleRunspace.Dispose() }
    if ($env:JP1DIST_HOME -and (Get-DistManager -ErrorAction SilentlyContinue)) { Stop-DistManager }
    Remove-TestFolder $scratch
}

Describe 'Help examples' {
    It 'runs <Key>' -TestCases $cases {
        Skip-WhenRemote 'the examples start managers and agents on this computer, with a scratch data folder of their own'
        if ($Reason) { Set-ItResult -Skipped -Because $Reason; return }
        if ($sharedDatabase) { Set-ItResult -Skipped -Because 'each example runs on a copy of a data folder, and a PostgreSQL database (JP1DIST_DATABASE) is not copied with it'; return }
        $result = Invoke-Example $Key $Statements
        $wrote = if ($result.Output.Length -gt 2000) { $result.Output.Substring(0, 2000) + '...' } else { $result.Output }
        "$($result.Failure)" | Should -BeNullOrEmpty -Because "$Key ends without a terminating error (it wrote: $wrote)"
        ($result.Errors | ForEach-Object { "$_ ($($_.FullyQualifiedErrorId))" }) | Should -BeNullOrEmpty -Because "$Key writes no error (it wrote: $wrote)"
    }

    It 'lists as not runnable only examples that exist' -TestCases $listed {
        foreach ($key in $Listed) { $Known | Should -Contain $key }
    }
}
