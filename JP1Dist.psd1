@{
    RootModule           = 'JP1Dist.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.6'
    GUID                 = '5b0f7c1e-8a7d-4d0e-9b7a-2f64a1d3c9e4'
    Author               = 'The JP1Dist developers'
    CompanyName          = 'The JP1Dist project'
    Copyright            = '(c) 2026 The JP1Dist developers. Released under the MIT License (LICENSE).'
    Description          = 'JP1Dist software distribution: packages, jobs through relays to agents, live status and re-execution, driven from PowerShell.'
    # The loader is imported first and prepares the engine's load context before the cmdlets are examined.
    NestedModules        = @('JP1Dist.PowerShell.Loader.dll')
    FormatsToProcess     = @('JP1Dist.Format.ps1xml')
    TypesToProcess       = @('JP1Dist.Types.ps1xml')
    CmdletsToExport      = @(
        'New-DistPackage', 'Get-DistPackage', 'Set-DistPackage', 'Remove-DistPackage',
        'New-DistEnrollmentToken', 'Get-DistEnrollmentToken', 'Remove-DistEnrollmentToken', 'Get-DistHost', 'Remove-DistHost',
        'Approve-DistHost', 'Deny-DistHost', 'Start-DistHost', 'Stop-DistHost',
        'New-DistJob', 'Get-DistJob', 'Start-DistJob', 'Remove-DistJob', 'Restart-DistJob', 'Wait-DistJob', 'Get-DistJobStatus',
        'Start-DistManager', 'Stop-DistManager', 'Get-DistManager', 'Connect-DistManager', 'Disconnect-DistManager',
        'Get-DistInventory',
        'New-DistHostGroup', 'Get-DistHostGroup', 'Remove-DistHostGroup', 'Add-DistHostGroupMember', 'Remove-DistHostGroupMember',
        'New-DistIdGroup', 'Get-DistIdGroup', 'Remove-DistIdGroup', 'Add-DistIdGroupMember', 'Remove-DistIdGroupMember',
        'Set-DistIdGroupPolicy', 'Get-DistIdGroupPolicy',
        'Suspend-DistJob', 'Resume-DistJob', 'Stop-DistJob',
        'Get-DistSigningKey', 'Update-DistSigningKey',
        'New-DistAccessKey', 'Get-DistAccessKey', 'Remove-DistAccessKey', 'Get-DistAuditLog',
        'Export-DistOfflineMedia', 'Import-DistOfflineResult',
        'Get-DistAvailablePackage', 'Install-DistAvailablePackage'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @('Set-IdGroupPolicy', 'Get-IdGroupPolicy')
    PrivateData          = @{
        PSData = @{
            Tags         = @('SoftwareDistribution', 'Deployment', 'JP1', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')
            ReleaseNotes = @'
0.1.0: packages signed end to end, jobs through relays with resumable split transfer, install conditions, distribution
time separate from install time, ID groups that serve new clients in seconds, user-choice jobs (Get-DistAvailablePackage,
Install-DistAvailablePackage), Wake-on-LAN and shutdown, offline media, live status and re-execution of what failed,
access keys with roles and an audit log. See README.md and about_JP1Dist.
'@
        }
    }
}
