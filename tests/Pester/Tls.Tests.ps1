# HTTPS through the cmdlets: a manager from Start-DistManager on https with the certificate it creates, its pin in
# Get-DistManager, an agent held to that pin, a job executed (the session nudges the manager over HTTPS, pinned) and a
# clean stop (the stop request is pinned too).

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'tls'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')
    $logs = [IO.Path]::Combine($scratch, 'logs')
    $installer = New-TestPackageFolder ([IO.Path]::Combine($scratch, 'package')) $logs
    $manager = Start-DistManager -Listen 'https://127.0.0.1:0'
}

AfterAll {
    Stop-TestAgent $script:agent
    if (Get-DistManager) { Stop-DistManager }
    Remove-TestFolder $scratch
}

Describe 'A manager on HTTPS' {
    It 'serves https with the certificate it created and shows that certificate''s pin' {
        $manager.Url | Should -BeLike 'https://127.0.0.1:*'
        $manager.CertificatePin | Should -Match '^[0-9a-f]{64}$'
        (Get-DistManager).CertificatePin | Should -Be $manager.CertificatePin
        $published = [IO.Path]::Combine($env:JP1DIST_HOME, 'keys', 'tls.crt')
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
        $thrown = { Start-DistManager -Listen 'http://0.0.0.0:0' } | Should -Throw -ErrorId 'ListenUrlInsecure,*' -PassThru
        $thrown.Exception.Message | Should -BeLike '*https://0.0.0.0:0*'
    }

    It 'stops cleanly over HTTPS' {
        Stop-TestAgent $script:agent
        Stop-DistManager
        # A manager that stops cleanly signs off; one killed after a failed stop request would leave its row.
        @(Get-DistManager -All).Count | Should -Be 0
    }
}
