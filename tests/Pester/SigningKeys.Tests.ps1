# The manager's signing keys through the cmdlets: Get-DistSigningKey lists them, Update-DistSigningKey replaces the
# current key (with -WhatIf, a warning for a short grace period, refusals of bad input), and a running manager and agent
# go on installing with the new key, the agent having saved the announcement.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'keys'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $installer = New-TestPackageFolder ([IO.Path]::Combine($scratch, 'package')) $logs
}

AfterAll {
    Stop-TestAgent $script:agent
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'Get-DistSigningKey and Update-DistSigningKey' {
    It 'lists the data folder''s first key as the current one, the key enrollment tokens name' {
        $keys = @(Get-DistSigningKey)
        $keys.Count | Should -Be 1
        $keys[0].State | Should -Be 'Current'
        $keys[0].Fingerprint | Should -Match '^[0-9a-f]{64}$'
        $keys[0].RetiresAt | Should -BeNullOrEmpty
        [IO.File]::Exists($keys[0].File) | Should -BeTrue
        (New-DistEnrollmentToken -Description 'first key').Token.Split('.')[1] | Should -Be $keys[0].Fingerprint
    }

    It 'changes nothing with -WhatIf' {
        $before = (Get-DistSigningKey).Fingerprint
        Update-DistSigningKey -WhatIf | Should -BeNullOrEmpty
        @(Get-DistSigningKey).Count | Should -Be 1
        (Get-DistSigningKey).Fingerprint | Should -Be $before
    }

    It 'refuses a grace period of zero or longer than a year, and changes nothing' {
        { Update-DistSigningKey -GracePeriod ([TimeSpan]::Zero) -Confirm:$false } | Should -Throw -ErrorId 'SigningKeyGraceInvalid,*'
        { Update-DistSigningKey -GracePeriod ([TimeSpan]::FromDays(400)) -Confirm:$false } | Should -Throw -ErrorId 'SigningKeyGraceInvalid,*'
        @(Get-DistSigningKey).Count | Should -Be 1
    }

    It 'replaces the key: the new one is current, the old one retiring until the end of the grace period' {
        $old = (Get-DistSigningKey).Fingerprint
        $keys = @(Update-DistSigningKey -GracePeriod ([TimeSpan]::FromDays(2)) -Confirm:$false -PassThru)
        $keys.Count | Should -Be 2
        $keys[0].State | Should -Be 'Current'
        $keys[0].Fingerprint | Should -Not -Be $old
        $keys[1].Fingerprint | Should -Be $old
        $keys[1].State | Should -Be 'Retiring'
        $keys[1].ReplacedBy | Should -Be $keys[0].Fingerprint
        ($keys[1].RetiresAt - [DateTime]::Now).TotalHours | Should -BeGreaterThan 47
        $keys[1].Status | Should -BeLike 'Retiring until *'
        [IO.Path]::GetFileName($keys[0].File) | Should -Be "signing-$($keys[0].Fingerprint).pem"
        (New-DistEnrollmentToken -Description 'second key').Token.Split('.')[1] | Should -Be $keys[0].Fingerprint
        @(Get-DistSigningKey -State Retiring).Fingerprint | Should -Be $old
    }

    It 'warns when the grace period is shorter than the lifetime of signed work' {
        $keys = @(Update-DistSigningKey -GracePeriod ([TimeSpan]::FromHours(6)) -Confirm:$false -PassThru -WarningVariable warned -WarningAction SilentlyContinue)
        $keys.Count | Should -Be 3
        @($warned).Count | Should -Be 1
        "$($warned[0])" | Should -BeLike '*enrolled again*'
    }

    It 'keeps a running manager and its agent installing with the new key' {
        $manager = Start-TestManager
        $token = New-DistEnrollmentToken -Description 'agent'
        $state = [IO.Path]::Combine($scratch, 'agent-pc-keys')
        $script:agent = Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -Name 'pc-keys' -StateFolder $state
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (@(Get-DistHost).Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        (Get-DistHost).Name | Should -Be 'pc-keys'

        $keys = @(Update-DistSigningKey -Confirm:$false -PassThru)
        New-DistPackage -Name 'Viewer' -Version '1.0' -Path ([IO.Path]::Combine($scratch, 'package')) -InstallCommand $installer -InstallArguments $logs | Out-Null
        New-DistJob -Name 'Viewer after rotation' -Package 'Viewer' -Destination 'pc-keys' | Start-DistJob | Out-Null
        Wait-DistJob -Name 'Viewer after rotation' -Timeout 120
        (Get-DistJobStatus -Job 'Viewer after rotation').Status | Should -Be 'Succeeded'
        # The agent saved the announcement of the new key in its identity.
        $identity = [Text.Json.JsonDocument]::Parse([IO.File]::ReadAllText([IO.Path]::Combine($state, 'agent.json')))
        $announced = @($identity.RootElement.GetProperty('signingKeyAnnouncements').EnumerateArray() | ForEach-Object { $_.GetProperty('newPublicKey').GetString() })
        $fingerprints = @($announced | ForEach-Object { [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Convert]::FromBase64String($_))).ToLowerInvariant() })
        $fingerprints | Should -Contain $keys[0].Fingerprint
    }
}
