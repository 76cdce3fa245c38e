# The audit log through the cmdlets: changes made in this session are recorded under the local user with source "local"
# (in remote mode: under the access key's name, from the address the manager saw),
# operation, target and parameters (never a secret, not even a certificate's password), and Get-DistAuditLog filters them.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'audit'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    # Counts are of this session's entries: in remote mode the manager's log also holds the entry of the access key that the
    # test run made for the session, under the local user.
    $me = $AuditPrincipal
    $started = [DateTime]::Now
}

AfterAll {
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'Get-DistAuditLog' {
    It 'is empty before any change, and reading writes nothing' {
        @(Get-DistAuditLog -Principal $me).Count | Should -Be 0
        Get-DistHostGroup | Out-Null
        Get-DistAccessKey | Out-Null
        @(Get-DistAuditLog -Principal $me).Count | Should -Be 0
    }

    It 'records each change with the local user, the operation, the target and the parameters, newest first' {
        New-DistHostGroup -Name 'Sales' -Description 'sales floor' | Out-Null
        $token = New-DistEnrollmentToken -Description 'branch' -MaxUses 3
        $key = New-DistAccessKey -Name 'Monitoring' -Role Reader
        Remove-DistHostGroup -Name 'Sales' -Confirm:$false

        $entries = @(Get-DistAuditLog -Principal $me)
        $entries.Count | Should -Be 4
        @($entries | ForEach-Object { $_.Operation }) -join ',' | Should -Be 'Remove-DistHostGroup,New-DistAccessKey,New-DistEnrollmentToken,New-DistHostGroup'
        @($entries | ForEach-Object { $_.Target }) -join ',' | Should -Be "Sales,Monitoring,$($token.Id),Sales"
        foreach ($entry in $entries) {
            $entry.Principal | Should -Be $me
            $entry.Source | Should -Be $AuditSource
            "$($entry.Outcome)" | Should -Be 'Succeeded'
            $entry.Time | Should -BeGreaterOrEqual $started.AddSeconds(-1)
        }
        $entries[0].PSObject.TypeNames[0] | Should -Be 'JP1Dist.Contracts.DistAuditEntry'
        $parameters = [Text.Json.JsonDocument]::Parse($entries[2].Parameters).RootElement
        $parameters.GetProperty('MaxUses').GetInt32() | Should -Be 3
        $parameters.GetProperty('Description').GetString() | Should -Be 'branch'

        # Neither the token's text nor the key's is anywhere in the log.
        foreach ($entry in $entries) {
            "$($entry.Target) $($entry.Parameters)" | Should -Not -BeLike "*$($token.Token.Split('.')[0])*"
            "$($entry.Target) $($entry.Parameters)" | Should -Not -BeLike "*$($key.Key.Split('.')[2])*"
        }
    }

    It 'does not record a change that is refused' {
        { New-DistAccessKey -Name 'Monitoring' -Role Administrator } | Should -Throw -ErrorId 'AccessKeyAlreadyExists,*'
        Remove-DistHostGroup -Name 'nothing' -Confirm:$false -ErrorAction SilentlyContinue
        New-DistHostGroup -Name 'Support' -WhatIf | Out-Null
        @(Get-DistAuditLog -Principal $me).Count | Should -Be 4
    }

    It 'filters by operation, principal, target and time, with wildcards' {
        @(Get-DistAuditLog -Principal $me -Operation 'New-*').Count | Should -Be 3
        @(Get-DistAuditLog -Operation '*HostGroup').Count | Should -Be 2
        @(Get-DistAuditLog -Target 'sales').Count | Should -Be 2
        @(Get-DistAuditLog -Principal $me).Count | Should -Be 4
        @(Get-DistAuditLog -Principal 'someone else').Count | Should -Be 0
        @(Get-DistAuditLog -Since ([DateTime]::Now.AddMinutes(5))).Count | Should -Be 0
        @(Get-DistAuditLog -Since $started.AddSeconds(-1) -Operation 'Remove-*').Target | Should -Be 'Sales'
    }

    It 'returns the newest entries within -First and warns that older ones match' {
        $newest = @(Get-DistAuditLog -First 2 -WarningVariable warned -WarningAction SilentlyContinue)
        $newest.Count | Should -Be 2
        $newest[0].Operation | Should -Be 'Remove-DistHostGroup'
        @($warned).Count | Should -Be 1
        "$($warned[0])" | Should -BeLike '*newest 2 are shown*'
        @(Get-DistAuditLog -Principal $me -First 4 -WarningVariable none -WarningAction SilentlyContinue).Count | Should -Be 4
        @($none).Count | Should -Be 0
        { Get-DistAuditLog -First 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
        { Get-DistAuditLog -Principal '[bad' } | Should -Throw -ErrorId 'WildcardPatternInvalid,*'
    }

    It 'records starting and stopping a manager, without the certificate''s password' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        $key = [Security.Cryptography.ECDsa]::Create([Security.Cryptography.ECCurve+NamedCurves]::nistP256)
        $request = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=dist01.corp.example', $key, [Security.Cryptography.HashAlgorithmName]::SHA256)
        $certificate = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(30))
        $pfx = [IO.Path]::Combine($scratch, 'dist01.pfx')
        [IO.File]::WriteAllBytes($pfx, $certificate.Export([Security.Cryptography.X509Certificates.X509ContentType]::Pkcs12, 'audit-pfx-secret'))
        $password = [Security.SecureString]::new()
        foreach ($character in 'audit-pfx-secret'.ToCharArray()) { $password.AppendChar($character) }

        $manager = Start-DistManager -Listen 'https://127.0.0.1:0' -Certificate $pfx -CertificatePassword $password
        Stop-DistManager

        $stop, $start = @(Get-DistAuditLog -Operation '*-DistManager')
        $start.Operation | Should -Be 'Start-DistManager'
        $start.Target | Should -Be $manager.Url
        $parameters = [Text.Json.JsonDocument]::Parse($start.Parameters).RootElement
        $parameters.GetProperty('CertificatePath').GetString() | Should -Be $pfx
        $parameters.GetProperty('ProcessId').GetInt32() | Should -Be $manager.ProcessId
        $stop.Operation | Should -Be 'Stop-DistManager'
        $stop.Target | Should -Be $manager.Url
        foreach ($entry in @(Get-DistAuditLog)) {
            "$($entry.Target) $($entry.Parameters)" | Should -Not -BeLike '*audit-pfx-secret*'
        }
    }
}
