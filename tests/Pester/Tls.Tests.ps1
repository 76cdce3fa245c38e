# HTTPS through the cmdlets: a manager from Start-DistManager on https with the certificate it creates, its pin in
# Get-DistManager, an agent held to that pin, a job executed (the session nudges the manager over HTTPS, pinned), a
# relay on https whose agents need only the token New-DistEnrollmentToken makes, and a clean stop (the stop request is
# pinned too). In remote mode the manager is the HTTPS one connected to, and what only Start-DistManager can show is skipped.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'tls'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $installer = New-TestPackageFolder ([IO.Path]::Combine($scratch, 'package')) $logs
    $manager = Start-TestManager 'https://127.0.0.1:0'
}

AfterAll {
    Stop-TestAgent $script:agent
    Stop-TestAgent $script:agentBelow
    Stop-TestAgent $script:relay
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'A manager on HTTPS' {
    It 'serves https with the certificate it created and shows that certificate''s pin' {
        $manager.Url | Should -BeLike 'https://127.0.0.1:*'
        $manager.CertificatePin | Should -Match '^[0-9a-f]{64}$'
        (Get-DistManager).CertificatePin | Should -Be $manager.CertificatePin
        $published = [IO.Path]::Combine((Get-TestManagerHome), 'keys', 'tls.crt')
        $certificate = [Security.Cryptography.X509Certificates.X509CertificateLoader]::LoadCertificateFromFile($published)
        $pin = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($certificate.PublicKey.ExportSubjectPublicKeyInfo())).ToLowerInvariant()
        $pin | Should -Be $manager.CertificatePin
    }

    It 'installs on an agent held to that pin' {
        $token = New-DistEnrollmentToken -Description 'tls test'
        $script:agent = Start-TestAgent -ManagerUrl $manager.Url -Token $token.Token -CertificatePin $manager.CertificatePin -Name 'pc-tls' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-tls'))
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (@(Get-DistHost).Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        (Get-DistHost).Name | Should -Be 'pc-tls'

        New-DistPackage -Name 'Editor' -Version '2.1' -Path ([IO.Path]::Combine($scratch, 'package')) -InstallCommand $installer -InstallArguments $logs | Out-Null
        New-DistJob -Name 'Editor over TLS' -Package 'Editor' -Destination 'pc-tls' | Start-DistJob | Out-Null
        Wait-DistJob -Name 'Editor over TLS' -Timeout 120
        (Get-DistJobStatus -Job 'Editor over TLS').Status | Should -Be 'Succeeded'
        @(Get-InstallLog $logs 'pc-tls').Count | Should -Be 1
    }

    It 'refuses to serve plain HTTP beyond this computer' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        $thrown = { Start-DistManager -Listen 'http://0.0.0.0:0' } | Should -Throw -ErrorId 'ListenUrlInsecure,*' -PassThru
        $thrown.Exception.Message | Should -BeLike '*https://0.0.0.0:0*'
    }

    It 'installs on an agent below an https relay that has only its token' {
        $relayToken = New-DistEnrollmentToken -Description 'tls relay' -Relay
        $relayState = [IO.Path]::Combine($scratch, 'relay-tls')
        $start = [Diagnostics.ProcessStartInfo]::new($Jp1Dist)
        foreach ($argument in @('relay', '--manager', $manager.Url, '--token', $relayToken.Token, '--listen', 'https://127.0.0.1:0', '--name', 'relay-tls', '--state', $relayState)) {
            $start.ArgumentList.Add($argument)
        }
        $start.UseShellExecute = $false
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $script:relay = [Diagnostics.Process]::Start($start)
        $null = $script:relay.StandardOutput.ReadToEndAsync()
        $null = $script:relay.StandardError.ReadToEndAsync()
        # The relay registers, then the manager issues its certificate (tls-issued.crt) within moments.
        $issued = [IO.Path]::Combine($relayState, 'tls-issued.crt')
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while (-not ([IO.File]::Exists($issued) -and (Get-DistHost -Name 'relay-tls')) -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        [IO.File]::Exists($issued) | Should -BeTrue
        $relayUrl = (Get-DistHost -Name 'relay-tls').RelayUrl
        $relayUrl | Should -BeLike 'https://127.0.0.1:*'

        # The token carries the manager's pin, not the relay's; no --certificate-pin is given.
        $token = New-DistEnrollmentToken -Description 'below the relay'
        $script:agentBelow = Start-TestAgent -ManagerUrl $relayUrl -Token $token.Token -Name 'pc-below' -StateFolder ([IO.Path]::Combine($scratch, 'agent-pc-below'))
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while (-not (Get-DistHost -Name 'pc-below') -and [DateTime]::UtcNow -lt $deadline) { [Threading.Thread]::Sleep(200) }
        (Get-DistHost -Name 'pc-below').HigherSystem | Should -Be 'relay-tls'

        New-DistJob -Name 'Editor below the relay' -Package 'Editor' -Destination 'pc-below' | Start-DistJob | Out-Null
        Wait-DistJob -Name 'Editor below the relay' -Timeout 120
        (Get-DistJobStatus -Job 'Editor below the relay').Status | Should -Be 'Succeeded'
        @(Get-InstallLog $logs 'pc-below').Count | Should -Be 1
    }

    It 'stops cleanly over HTTPS' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        Stop-TestAgent $script:agentBelow
        Stop-TestAgent $script:relay
        Stop-TestAgent $script:agent
        Stop-DistManager
        # A manager that stops cleanly signs off; one killed after a failed stop request would leave its row.
        @(Get-DistManager -All).Count | Should -Be 0
    }
}

Describe 'A manager with the administrator''s certificate' {
    BeforeAll {
        $folder = [IO.Path]::Combine($scratch, 'admin-certificate')
        [void][IO.Directory]::CreateDirectory($folder)
        $key = [Security.Cryptography.ECDsa]::Create([Security.Cryptography.ECCurve+NamedCurves]::nistP256)
        $request = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=dist01.corp.example', $key, [Security.Cryptography.HashAlgorithmName]::SHA256)
        $names = [Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder]::new()
        $names.AddIpAddress([Net.IPAddress]::Loopback)
        $request.CertificateExtensions.Add($names.Build())
        $certificate = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(30))
        $pfx = [IO.Path]::Combine($folder, 'dist01.pfx')
        [IO.File]::WriteAllBytes($pfx, $certificate.Export([Security.Cryptography.X509Certificates.X509ContentType]::Pkcs12, 'pfx-secret'))
        $expectedPin = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($certificate.PublicKey.ExportSubjectPublicKeyInfo())).ToLowerInvariant()
        $password = [Security.SecureString]::new()
        foreach ($character in 'pfx-secret'.ToCharArray()) { $password.AppendChar($character) }
    }

    AfterAll {
        Stop-TestManager
    }

    It 'refuses a certificate file that does not exist, starting nothing' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        { Start-DistManager -Listen 'https://127.0.0.1:0' -Certificate ([IO.Path]::Combine($folder, 'missing.pfx')) } |
            Should -Throw -ErrorId 'CertificateFileNotFound,*'
        Get-DistManager | Should -BeNullOrEmpty
    }

    It 'ends the start with the reason when the password is wrong' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        $wrong = [Security.SecureString]::new()
        foreach ($character in 'not-it'.ToCharArray()) { $wrong.AppendChar($character) }
        $thrown = { Start-DistManager -Listen 'https://127.0.0.1:0' -Certificate $pfx -CertificatePassword $wrong } |
            Should -Throw -ErrorId 'ManagerStartFailed,*' -PassThru
        $thrown.Exception.Message | Should -BeLike '*dist01.pfx*'
    }

    It 'serves the PFX given, its password passed in the environment, and shows its pin' {
        Skip-WhenRemote 'Start-DistManager and Stop-DistManager act on this computer; a connected session refuses them (ManagerConnected)'
        $started = Start-DistManager -Listen 'https://127.0.0.1:0' -Certificate $pfx -CertificatePassword $password
        $started.CertificatePin | Should -Be $expectedPin
        (Get-DistManager).CertificatePin | Should -Be $expectedPin
        Stop-DistManager
    }
}
