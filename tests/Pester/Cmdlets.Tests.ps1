# PowerShell conventions of the JP1Dist cmdlets: clear terminating errors with stable ids for bad input that
# change nothing, -WhatIf, wildcards, tab completion and help. No manager or agent is needed here.

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'cmdlets'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'home')
    $source = [IO.Path]::Combine($scratch, 'source')
    [void][IO.Directory]::CreateDirectory($source)
    [IO.File]::WriteAllText([IO.Path]::Combine($source, 'setup.cmd'), 'exit 0')
    New-DistPackage -Name 'Office Suite' -Version '16.0' -Path $source -InstallCommand 'setup.cmd' | Out-Null
}

AfterAll {
    Remove-TestFolder $scratch
}

Describe 'Packages' {
    It 'refuses the same name and version twice' {
        { New-DistPackage -Name 'office suite' -Version '16.0' -Path $source -InstallCommand 'setup.cmd' } |
            Should -Throw -ErrorId 'PackageAlreadyExists,*'
        @(Get-DistPackage).Count | Should -Be 1
    }

    It 'names a missing folder' {
        $missing = [IO.Path]::Combine($scratch, 'nowhere')
        $thrown = { New-DistPackage -Name 'Other' -Version '1' -Path $missing -InstallCommand 'x.exe' } |
            Should -Throw -ErrorId 'PackagePathNotFound,*' -PassThru
        $thrown.Exception.Message | Should -BeLike "*nowhere*"
        $thrown.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        @(Get-DistPackage).Count | Should -Be 1
    }

    It 'refuses an install command that is not in the package' {
        { New-DistPackage -Name 'Other' -Version '1' -Path $source -InstallCommand 'bin/setup.exe' } |
            Should -Throw -ErrorId 'InstallCommandNotFound,*'
    }

    It 'keeps reboot and retry codes, and warns of a code wider than 8 bits where Linux may install' {
        $package = New-DistPackage -Name 'Driver' -Version '1' -Path $source -InstallCommand 'setup.cmd' -SuccessExitCode 0, 3010 -WarningVariable warned -WarningAction SilentlyContinue
        $package.RebootExitCodes | Should -Be @(1641)
        $package.RetryExitCodes | Should -Be @(1618)
        @($warned).Count | Should -Be 1
        "$($warned[0])" | Should -BeLike '*3010*8 bits*'
        New-DistPackage -Name 'Driver' -Version '2' -Path $source -InstallCommand 'setup.cmd' -SuccessExitCode 0, 3010 -InstallCondition @{ OS = 'Windows' } -WarningVariable quiet | Out-Null
        @($quiet).Count | Should -Be 0
        { New-DistPackage -Name 'Driver' -Version '3' -Path $source -InstallCommand 'setup.cmd' -RebootExitCode 3010 -RetryExitCode 3010 } |
            Should -Throw -ErrorId 'ExitCodesInvalid,*'
        @(Get-DistPackage -Name 'Driver').Count | Should -Be 2
        Get-DistPackage -Name 'Driver' | Remove-DistPackage -Confirm:$false
    }

    It 'finds packages by wildcard' {
        (Get-DistPackage -Name 'Office*').Version | Should -Be '16.0'
        @(Get-DistPackage -Name 'Nothing*').Count | Should -Be 0
        (Get-DistPackage -Name '[N-P]ffice*').Version | Should -Be '16.0'
    }

    It 'names a wildcard pattern that is not well formed' {
        $thrown = { Get-DistPackage -Name 'Office[' } | Should -Throw -ErrorId 'WildcardPatternInvalid,*' -PassThru
        $thrown.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'keeps a package under -WhatIf' {
        Remove-DistPackage -Name 'Office Suite' -Version '16.0' -WhatIf
        @(Get-DistPackage).Count | Should -Be 1
    }

    It 'completes package names' {
        $line = "Get-DistPackage -Name Off"
        $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $completion.CompletionMatches[0].CompletionText | Should -Be "'Office Suite'"
    }
}

Describe 'Jobs' {
    It 'refuses an unknown package and saves nothing' {
        { New-DistJob -Name 'J' -Package 'Nothing' -Destination 'pc1' } | Should -Throw -ErrorId 'PackageNotFound,*'
        @(Get-DistJob).Count | Should -Be 0
    }

    It 'refuses an unknown destination and saves nothing' {
        { New-DistJob -Name 'J' -Package 'Office Suite' -Destination 'pc1' } | Should -Throw -ErrorId 'HostNotFound,*'
        @(Get-DistJob).Count | Should -Be 0
    }

    It 'names an unknown job' {
        # Non-terminating, as for every Get- cmdlet: -ErrorAction Stop makes it end the command.
        { Get-DistJobStatus -Job 'No such job' -ErrorAction Stop } | Should -Throw -ErrorId 'JobNotFound,*'
        { Start-DistJob -Name 'No such job' -ErrorAction Stop } | Should -Throw -ErrorId 'JobNotFound,*'
    }
}

Describe 'Enrollment tokens' {
    It 'creates limited tokens, lists them without their text, and removes them' {
        $limited = New-DistEnrollmentToken -Description 'imaging' -ExpiresIn ([TimeSpan]::FromDays(1)) -MaxUses 50
        $relays = New-DistEnrollmentToken -Description 'branch relays' -Relay
        $limited.Token | Should -Not -BeNullOrEmpty
        # The secret and the signing key's fingerprint; in remote mode also the pin of the HTTPS manager that made it.
        ($limited.Token -split '\.').Count | Should -Be $(if ($Remote) { 3 } else { 2 })
        ($limited.MaxUses, $limited.Status, $relays.Relay) | Should -Be @(50, 'Active', $true)

        $listed = @(Get-DistEnrollmentToken)
        $listed.Count | Should -Be 2
        $listed.Where({ $null -ne $_.Token }).Count | Should -Be 0
        (Get-DistEnrollmentToken -Id $relays.Id).Description | Should -Be 'branch relays'

        $relays | Remove-DistEnrollmentToken -Confirm:$false
        @(Get-DistEnrollmentToken).Id | Should -Be @($limited.Id)
        Get-DistEnrollmentToken -Id $relays.Id -ErrorAction SilentlyContinue -ErrorVariable missing
        $missing[0].FullyQualifiedErrorId | Should -BeLike 'EnrollmentTokenNotFound,*'
        Remove-DistEnrollmentToken -Id $limited.Id -WhatIf
        @(Get-DistEnrollmentToken).Count | Should -Be 1
    }

    It 'refuses limits that make no sense and creates nothing' {
        { New-DistEnrollmentToken -ExpiresIn ([TimeSpan]::Zero) } | Should -Throw -ErrorId 'EnrollmentTokenExpiryInvalid,*'
        { New-DistEnrollmentToken -MaxUses 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
        @(Get-DistEnrollmentToken).Count | Should -Be 1
    }
}

Describe 'Managers' {
    It 'refuses to stop a manager this session did not start, and stops nothing' {
        # A connected session starts and stops no manager at all: that acts on this computer, not on the manager's.
        $thrown = { Stop-DistManager -WhatIf } | Should -Throw -ErrorId $(if ($Remote) { 'ManagerConnected,*' } else { 'ManagerNotStartedHere,*' }) -PassThru
        $thrown.CategoryInfo.Category | Should -Be 'InvalidOperation'
        $thrown.Exception.Message | Should -BeLike $(if ($Remote) { '*Disconnect-DistManager*' } else { "*$env:JP1DIST_HOME*" })
        @(Get-DistManager).Count | Should -Be $(if ($Remote) { 1 } else { 0 })
    }
}

Describe 'Help' {
    It 'has examples for New-DistJob' {
        $help = Get-Help New-DistJob -Examples
        @($help.examples.example).Count | Should -BeGreaterOrEqual 2
    }

    It 'has a manifest a gallery accepts: authors, tags for the editions and platforms, release notes, and a LICENSE beside it' {
        $manifest = Test-ModuleManifest ([IO.Path]::Combine($RepoRoot, 'out', 'JP1Dist', 'JP1Dist.psd1'))
        $manifest.Author | Should -Not -BeNullOrEmpty
        $manifest.Author | Should -Not -Be 'JP1Dist'
        $manifest.CompanyName | Should -Not -Be 'JP1Dist'
        foreach ($tag in 'PSEdition_Core', 'Windows', 'Linux', 'MacOS', 'SoftwareDistribution') { $manifest.Tags | Should -Contain $tag }
        $manifest.ReleaseNotes | Should -Not -BeNullOrEmpty
        [IO.File]::Exists([IO.Path]::Combine($RepoRoot, 'LICENSE')) | Should -BeTrue
    }

    It 'has help examples that parse and use only cmdlets and parameters the module has' {
        $problems = [Collections.Generic.List[string]]::new()
        $exported = @{}
        foreach ($command in Get-Command -Module JP1Dist) { $exported[$command.Name] = $command }
        foreach ($example in Get-HelpExample) {
            foreach ($code in $example.Statements) {
                $tokens = $null; $errors = $null
                $ast = [Management.Automation.Language.Parser]::ParseInput($code, [ref] $tokens, [ref] $errors)
                foreach ($e in $errors) { $problems.Add("$($example.Key): $($e.Message) in: $code") }
                foreach ($call in $ast.FindAll({ param($n) $n -is [Management.Automation.Language.CommandAst] }, $true)) {
                    $commandName = $call.GetCommandName()
                    if (-not $commandName -or $commandName -notmatch '-Dist|IdGroupPolicy') { continue }
                    $command = $exported[$commandName]
                    if ($command -is [Management.Automation.AliasInfo]) { $command = $command.ResolvedCommand }
                    if (-not $command) { $problems.Add("$($example.Key): '$commandName' is not a command of the module"); continue }
                    foreach ($parameter in $call.CommandElements | Where-Object { $_ -is [Management.Automation.Language.CommandParameterAst] }) {
                        $known = $command.Parameters.Values | Where-Object { $_.Name -eq $parameter.ParameterName -or $_.Aliases -contains $parameter.ParameterName }
                        if (-not $known) { $problems.Add("$($example.Key): $($command.Name) has no parameter -$($parameter.ParameterName)") }
                    }
                }
            }
        }
        $problems | Should -BeNullOrEmpty
    }

    It 'explains the concepts in about_JP1Dist, whose map names every cmdlet of the module' {
        $about = "$(Get-Help about_JP1Dist)"
        foreach ($concept in 'PACKAGES', 'JOBS', 'DESTINATIONS', 'ID GROUPS', 'RELAYS', 'STATUSES', 'CMDLET MAP') {
            $about | Should -Match "(?m)^ *$concept\b"
        }
        $map = $about.Substring($about.IndexOf('CMDLET MAP'))
        foreach ($name in (Get-Command -Module JP1Dist -CommandType Cmdlet).Name) {
            $map | Should -Match "\b$([regex]::Escape($name))\b" -Because "the map of about_JP1Dist lists $name"
        }
    }
}
