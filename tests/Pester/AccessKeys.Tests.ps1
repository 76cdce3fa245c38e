# Access keys through the cmdlets: New-DistAccessKey shows the key once (as a list), Get-DistAccessKey lists keys without
# it, Remove-DistAccessKey removes them from the pipeline; -WhatIf and refusals of bad input change nothing.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'access-keys'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'manager')

    # The keys this file made: in remote mode the manager also holds the key this session connected with.
    function Get-FileKey { @(Get-DistAccessKey | Where-Object Name -ne $RemoteConnection.Principal) }
}

AfterAll {
    Remove-TestFolder $scratch
}

Describe 'New-DistAccessKey' {
    It 'returns the key once, with its name and role, formatted as a list that shows it' {
        $key = New-DistAccessKey -Name 'Monitoring' -Role Reader -Description 'status checks'
        $key.Name | Should -Be 'Monitoring'
        "$($key.Role)" | Should -Be 'Reader'
        $key.Description | Should -Be 'status checks'
        $key.Status | Should -Be 'Active'
        $key.ExpiresAt | Should -BeNullOrEmpty
        $key.Key | Should -Match '^jp1key\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$'
        $key.Key.Split('.')[1] | Should -Be $key.KeyId
        $key.PSObject.TypeNames[0] | Should -Be 'JP1Dist.Contracts.DistAccessKey#Created'
        $key.CreatedBy | Should -Not -BeNullOrEmpty
    }

    It 'lists keys without their text' {
        $listed = @(Get-FileKey)
        $listed.Count | Should -Be 1
        $listed[0].Name | Should -Be 'Monitoring'
        $listed[0].Key | Should -BeNullOrEmpty
        $listed[0].PSObject.TypeNames[0] | Should -Be 'JP1Dist.Contracts.DistAccessKey'
    }

    It 'sets an expiry from -ExpiresIn' {
        $key = New-DistAccessKey -Name 'Night shift' -Role Operator -ExpiresIn ([TimeSpan]::FromDays(90))
        "$($key.Role)" | Should -Be 'Operator'
        ($key.ExpiresAt - [DateTime]::Now).TotalDays | Should -BeGreaterThan 89.9
        ($key.ExpiresAt - [DateTime]::Now).TotalDays | Should -BeLessOrEqual 90
    }

    It 'creates nothing with -WhatIf' {
        New-DistAccessKey -Name 'Lab' -Role Administrator -WhatIf | Should -BeNullOrEmpty
        @(Get-DistAccessKey -Name 'Lab*').Count | Should -Be 0
    }

    It 'refuses bad input with the error ids of the product, creating nothing' {
        { New-DistAccessKey -Name 'bad/name' -Role Reader } | Should -Throw -ErrorId 'AccessKeyNameInvalid,*'
        { New-DistAccessKey -Name 'k' -Role Reader -ExpiresIn ([TimeSpan]::Zero) } | Should -Throw -ErrorId 'AccessKeyExpiryInvalid,*'
        { New-DistAccessKey -Name 'k' -Role Reader -ExpiresIn ([TimeSpan]::FromDays(1000)) } | Should -Throw -ErrorId 'AccessKeyExpiryInvalid,*'
        $taken = { New-DistAccessKey -Name 'MONITORING' -Role Administrator } | Should -Throw -ErrorId 'AccessKeyAlreadyExists,*' -PassThru
        "$($taken.CategoryInfo.Category)" | Should -Be 'ResourceExists'
        @(Get-FileKey).Count | Should -Be 2
    }
}

Describe 'Get-DistAccessKey and Remove-DistAccessKey' {
    It 'filters by name with wildcards, and says when an exact name matches nothing' {
        @(Get-DistAccessKey -Name 'night*').Name | Should -Be 'Night shift'
        @(Get-DistAccessKey -Name 'Monitoring', 'Night shift').Count | Should -Be 2
        @(Get-DistAccessKey -Name 'nothing*').Count | Should -Be 0
        Get-DistAccessKey -Name 'nobody' -ErrorAction SilentlyContinue -ErrorVariable missing | Should -BeNullOrEmpty
        $missing[0].FullyQualifiedErrorId | Should -BeLike 'AccessKeyNotFound,*'
        "$($missing[0].CategoryInfo.Category)" | Should -Be 'ObjectNotFound'
    }

    It 'removes nothing under -WhatIf' {
        Remove-DistAccessKey -Name 'Monitoring' -WhatIf
        @(Get-FileKey).Count | Should -Be 2
    }

    It 'removes keys from the pipeline, and reports a name that matches nothing without stopping' {
        Get-DistAccessKey -Name 'Night*' | Remove-DistAccessKey -Confirm:$false
        @(Get-FileKey).Name | Should -Be 'Monitoring'
        Remove-DistAccessKey -Name 'nobody', 'Monitoring' -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'AccessKeyNotFound,*'
        @(Get-FileKey).Count | Should -Be 0
    }

    It 'gives a removed key''s name to a new key' {
        (New-DistAccessKey -Name 'Monitoring' -Role Reader).Name | Should -Be 'Monitoring'
        @(Get-FileKey).Count | Should -Be 1
    }
}
