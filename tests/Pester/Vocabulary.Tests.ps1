# One vocabulary and one not-found rule across the JP1Dist cmdlets: $null, '' and @() get a clear error for every parameter
# that is mandatory or taken from the pipeline (cases generated from Get-Command, so new parameters are covered); an exact name
# that matches nothing is a non-terminating ObjectNotFound error naming it, a pattern that matches nothing an empty result.

BeforeDiscovery {
    $root = [IO.Path]::GetFullPath([IO.Path]::Combine($PSScriptRoot, '..', '..'))
    Import-Module ([IO.Path]::Combine($root, 'out', 'JP1Dist', 'JP1Dist.psd1')) -Force
    $common = [Management.Automation.PSCmdlet]::CommonParameters + [Management.Automation.PSCmdlet]::OptionalCommonParameters
    # The cmdlets that talk to the agent on this computer, not to a manager, need a running agent to go further than binding.
    $agentSide = @('Get-DistAvailablePackage', 'Install-DistAvailablePackage')
    $script:nullCases = foreach ($command in Get-Command -Module JP1Dist -CommandType Cmdlet) {
        foreach ($parameter in $command.Parameters.Values) {
            if ($parameter.Name -in $common) { continue }
            $type = $parameter.ParameterType
            if ($type -notin @([string], [string[]], [object], [object[]])) { continue }
            $sets = @($parameter.Attributes | Where-Object { $_ -is [Management.Automation.ParameterAttribute] })
            if (-not @($sets | Where-Object { $_.Mandatory -or $_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName }).Count) { continue }
            $values = if ($type.IsArray) { @{ Null = $null; Empty = @(); EmptyElement = @('') } } else { @{ Null = $null; Empty = '' } }
            foreach ($kind in $values.Keys) {
                @{ Command = $command.Name; Parameter = $parameter.Name; Kind = $kind; Value = $values[$kind] }
            }
        }
    }
    $script:notFoundCases = foreach ($command in Get-Command -Module JP1Dist -Verb Get) {
        if ($command.Name -in $agentSide) { continue }
        # The name parameter: the first positional one that takes wildcards.
        $name = @($command.Parameters.Values | Where-Object {
            $_.ParameterType -in @([string], [string[]]) -and ($_.Attributes | Where-Object { $_ -is [Management.Automation.SupportsWildcardsAttribute] }) -and
            ($_.Attributes | Where-Object { $_ -is [Management.Automation.ParameterAttribute] -and $_.Position -eq 0 })
        })[0]
        if ($name) { @{ Command = $command.Name; Parameter = $name.Name } }
    }
}

BeforeAll {
    . ([IO.Path]::Combine($PSScriptRoot, 'TestSupport.ps1'))
    $scratch = New-TestFolder 'vocabulary'
    $env:JP1DIST_HOME = [IO.Path]::Combine($scratch, 'home')
    $source = [IO.Path]::Combine($scratch, 'source')
    [void][IO.Directory]::CreateDirectory($source)
    [IO.File]::WriteAllText([IO.Path]::Combine($source, 'setup.cmd'), 'exit 0')
    $manager = Start-TestManager
    $package = New-DistPackage -Name 'Vocabulary Suite' -Version '1.0' -Path $source -InstallCommand 'setup.cmd'

    # Errors that are a bug in a cmdlet, whatever message they carry.
    $rawExceptions = @([NullReferenceException], [ArgumentNullException], [InvalidCastException], [IndexOutOfRangeException],
        [Collections.Generic.KeyNotFoundException], [FormatException], [ArgumentOutOfRangeException])
    $bindingIds = @('ParameterArgumentValidationErrorNullNotAllowed', 'ParameterArgumentValidationErrorEmptyStringNotAllowed',
        'ParameterArgumentValidationErrorEmptyArrayNotAllowed', 'ParameterArgumentValidationError')

    # A stand-in for another mandatory parameter, so that the command gets as far as the parameter under test.
    function Get-StandIn([Management.Automation.ParameterMetadata] $Parameter) {
        $type = $Parameter.ParameterType
        if ($type -eq [Management.Automation.SwitchParameter]) { return $true }
        if ($type -eq [string] -or $type -eq [string[]] -or $type -eq [object] -or $type -eq [object[]]) { return 'nosuch-vocabulary' }
        if ($type -eq [int] -or $type -eq [int[]]) { return 1 }
        if ($type -eq [Uri]) { return [Uri]'https://127.0.0.1:9' }
        if ($type -eq [hashtable[]]) { return , @(@{ OS = 'Windows*' }) }
        if ($type -eq [hashtable]) { return @{} }
        if ($type.IsEnum) { return [Enum]::GetValues($type)[0] }
        throw "No stand-in value for a mandatory parameter of type $type ($($Parameter.Name)): add one here."
    }

    # What "clear" means: the command is refused with an ErrorRecord that is either PowerShell's own null/empty validation
    # error naming the parameter (ValidateNotNullOrEmpty, a mandatory parameter), or a JP1Dist error id documented in the
    # cmdlet's help with the category InvalidArgument or ObjectNotFound; never a raw .NET exception anywhere in the chain.
    function Assert-ClearError([string] $Command, [string] $Parameter, $Record) {
        $Record | Should -Not -BeNullOrEmpty -Because "$Command -$Parameter with nothing in it must be refused"
        $exception = $Record.Exception
        while ($exception) {
            $exception.GetType() | Should -Not -BeIn $rawExceptions -Because "$Command -$Parameter failed with a raw $($exception.GetType().Name): $($Record.Exception.Message)"
            $exception = $exception.InnerException
        }
        $id = $Record.FullyQualifiedErrorId.Split(',')[0]
        if ($id -in $bindingIds) {
            $Record.Exception.Message | Should -BeLike "*'$Parameter'*" -Because 'a binding error names the parameter'
            $Record.Exception.Message | Should -Match 'null|empty' -Because 'a binding error says what was wrong with the value'
            return
        }
        "$($Record.CategoryInfo.Category)" | Should -BeIn @('InvalidArgument', 'ObjectNotFound') -Because "$Command -$Parameter gave $($Record.FullyQualifiedErrorId): $($Record.Exception.Message)"
        $help = [IO.File]::ReadAllText([IO.Path]::Combine($RepoRoot, 'docs', 'cmdlets', "$Command.md"))
        $help | Should -BeLike "*$id*" -Because "the error id $id of $Command is documented in docs/cmdlets/$Command.md"
    }
}

AfterAll {
    Stop-TestManager
    Remove-TestFolder $scratch
}

Describe 'Nothing in a mandatory or piped parameter' {
    It '<Command> -<Parameter> <Kind> is a clear error' -TestCases $nullCases {
        param($Command, $Parameter, $Kind, $Value)
        $info = Get-Command $Command
        $metadata = $info.Parameters[$Parameter]
        # The parameter set to try: one that holds the parameter; the others' mandatory parameters get stand-ins.
        $own = @($metadata.ParameterSets.Keys | Where-Object { $_ -ne '__AllParameterSets' })
        $default = if ($info.DefaultParameterSet) { $info.DefaultParameterSet } else { @($info.ParameterSets.Name)[0] }
        $set = if (-not $own.Count -or $default -in $own) { $default } else { $own[0] }
        $arguments = @{ $Parameter = $Value }
        foreach ($other in $info.Parameters.Values) {
            if ($other.Name -eq $Parameter) { continue }
            $attributes = @($other.Attributes | Where-Object { $_ -is [Management.Automation.ParameterAttribute] -and $_.Mandatory -and
                    ($_.ParameterSetName -eq '__AllParameterSets' -or -not $set -or $_.ParameterSetName -eq $set) })
            if ($attributes.Count) { $arguments[$other.Name] = Get-StandIn $other }
        }
        if ($info.Parameters.ContainsKey('WhatIf')) { $arguments['WhatIf'] = $true }
        $record = $null
        try { & $Command @arguments -ErrorAction Stop | Out-Null } catch { $record = $_ }
        # A parameter that declares it takes nothing ([AllowNull], [AllowEmptyString], [AllowEmptyCollection]: a description
        # that may be cleared) may accept it; when it refuses, the refusal is still a clear one.
        $allows = switch ($Kind) {
            'Null' { [Management.Automation.AllowNullAttribute] }
            'Empty' { if ($metadata.ParameterType.IsArray) { [Management.Automation.AllowEmptyCollectionAttribute] } else { [Management.Automation.AllowEmptyStringAttribute] } }
            default { [Management.Automation.AllowEmptyStringAttribute] }
        }
        if ($null -eq $record -and @($metadata.Attributes | Where-Object { $_ -is $allows }).Count) { return }
        Assert-ClearError $Command $Parameter $record
    }

    It 'New-DistJob -Destination from a Get-DistHost that matched nothing is JobDestinationMissing' {
        $thrown = { New-DistJob -Name 'J' -Package 'Vocabulary Suite' -Destination (Get-DistHost 'nohost*') } |
            Should -Throw -ErrorId 'JobDestinationMissing,*' -PassThru
        $thrown.CategoryInfo.Category | Should -Be 'InvalidArgument'
        { Get-DistHost 'nohost*' | New-DistJob -Name 'J' -Package 'Vocabulary Suite' } | Should -Throw -ErrorId 'JobDestinationMissing,*'
        @(Get-DistJob).Count | Should -Be 0
    }
}

Describe 'Not found' {
    It '<Command> -<Parameter> with an exact name that matches nothing is a non-terminating ObjectNotFound error naming it' -TestCases $notFoundCases {
        param($Command, $Parameter)
        $arguments = @{ $Parameter = 'nosuch-vocabulary' }
        $out = & $Command @arguments -ErrorAction SilentlyContinue -ErrorVariable failed
        @($out).Count | Should -Be 0
        @($failed).Count | Should -Be 1
        "$($failed[0].CategoryInfo.Category)" | Should -Be 'ObjectNotFound'
        $failed[0].TargetObject | Should -Be 'nosuch-vocabulary'
    }

    It '<Command> -<Parameter> with a pattern that matches nothing is an empty result' -TestCases $notFoundCases {
        param($Command, $Parameter)
        $arguments = @{ $Parameter = 'nosuch-vocabulary*' }
        $out = & $Command @arguments -ErrorAction Stop -ErrorVariable failed
        @($out).Count | Should -Be 0
        @($failed).Count | Should -Be 0
    }

    It 'goes on after a name that matches nothing, and writes what several names match once' {
        $found = @(Get-DistPackage -Name 'nosuch', 'Vocabulary*', 'vocabulary suite' -ErrorAction SilentlyContinue -ErrorVariable failed)
        $found.Count | Should -Be 1
        $found[0].Name | Should -Be 'Vocabulary Suite'
        @($failed).Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'PackageNotFound,*'
    }

    It 'Get-DistJobStatus -Job nosuch is a non-terminating JobNotFound naming the job' {
        $out = Get-DistJobStatus -Job 'nosuch' -ErrorAction SilentlyContinue -ErrorVariable failed
        @($out).Count | Should -Be 0
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'JobNotFound,*'
        "$($failed[0].CategoryInfo.Category)" | Should -Be 'ObjectNotFound'
        $failed[0].TargetObject | Should -Be 'nosuch'
        @(Get-DistJobStatus -Job 'nosuch*').Count | Should -Be 0
    }

    It 'targets what was not found, not the job' {
        $thrown = { New-DistJob -Name 'J' -Package 'nopackage' -Destination 'pc1' } | Should -Throw -ErrorId 'PackageNotFound,*' -PassThru
        $thrown.TargetObject | Should -Be 'nopackage'
        $thrown = { New-DistJob -Name 'J' -Package 'Vocabulary Suite' -Destination 'nohost' } | Should -Throw -ErrorId 'HostNotFound,*' -PassThru
        "$($thrown.TargetObject)" | Should -BeLike '*nohost*'
    }
}

Describe 'A package from the pipeline' {
    It 'binds to the job''s package, not to its -Name or -Destination' {
        # The host does not exist: the engine got as far as the destinations, so the package was the piped one.
        $thrown = { Get-DistPackage 'Vocabulary Suite' | New-DistJob -Name 'Piped' -Destination 'nohost' } | Should -Throw -ErrorId 'HostNotFound,*' -PassThru
        "$($thrown.TargetObject)" | Should -BeLike '*nohost*'
        $thrown = { Get-DistPackage 'nosuch*' | New-DistJob -Name 'Piped' -Destination 'nohost' } | Should -Throw -ErrorId 'JobPackageMissing,*' -PassThru
        "$($thrown.CategoryInfo.Category)" | Should -Be 'InvalidArgument'
    }
}

Describe 'One vocabulary' {
    It 'keeps the design card''s ID-group policy names as aliases of the Dist- cmdlets' {
        (Get-Command Set-IdGroupPolicy).ResolvedCommandName | Should -Be 'Set-DistIdGroupPolicy'
        (Get-Command Get-IdGroupPolicy).ResolvedCommandName | Should -Be 'Get-DistIdGroupPolicy'
        @(Get-Command -Module JP1Dist -CommandType Cmdlet | Where-Object { $_.Noun -notlike 'Dist*' }).Count | Should -Be 0
    }

    It 'gives every -HostName the alias ComputerName' {
        foreach ($command in Get-Command -Module JP1Dist -CommandType Cmdlet) {
            if ($command.Parameters.ContainsKey('HostName')) {
                $command.Parameters['HostName'].Aliases | Should -Contain 'ComputerName' -Because "$($command.Name) -HostName"
            }
        }
    }

    It 'calls the job -Name on the job cmdlets and -Job where a job qualifies another noun, the old spellings kept as aliases' {
        $jobCommands = @(Get-Command -Module JP1Dist -CommandType Cmdlet | Where-Object Noun -EQ DistJob)
        $jobCommands.Count | Should -Be 9
        foreach ($command in $jobCommands) {
            $command.Parameters.ContainsKey('Name') | Should -BeTrue -Because "$($command.Name) takes the job as -Name"
            $command.Parameters['Name'].Aliases | Should -Contain 'JobName' -Because "$($command.Name) -Name"
            $command.Parameters['Name'].Aliases | Should -Contain 'Job' -Because "$($command.Name) -Name"
        }
        foreach ($name in 'Get-DistJobStatus', 'Export-DistOfflineMedia') {
            $parameters = (Get-Command $name).Parameters
            $parameters.ContainsKey('Job') | Should -BeTrue -Because "$name takes the job that qualifies it as -Job"
            $parameters['Job'].Aliases | Should -Contain 'JobName' -Because "$name -Job"
        }
        @(Get-Command -Module JP1Dist -CommandType Cmdlet | Where-Object { $_.Parameters.ContainsKey('JobName') -and $_.Parameters['JobName'].Name -eq 'JobName' }).Count |
            Should -Be 0 -Because 'no cmdlet spells the job -JobName any more, only as an alias'
    }

    It '<Command> takes the job from a status object''s JobName and from a job object''s Name' -TestCases @(
        @{ Command = 'Restart-DistJob' }, @{ Command = 'Suspend-DistJob' }, @{ Command = 'Resume-DistJob' }, @{ Command = 'Stop-DistJob' }) {
        param($Command)
        # The job does not exist: the JobNotFound error names what bound to -Name.
        [pscustomobject]@{ JobName = 'nosuch-status'; HostName = 'pc1' } | & $Command -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'JobNotFound,*'
        "$($failed[0].TargetObject)" | Should -Be 'nosuch-status'
        [pscustomobject]@{ Name = 'nosuch-job' } | & $Command -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'JobNotFound,*'
        "$($failed[0].TargetObject)" | Should -Be 'nosuch-job'
        & $Command -JobName 'nosuch-old' -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failed
        "$($failed[0].TargetObject)" | Should -Be 'nosuch-old'
    }

    It 'takes several names and patterns where a name takes wildcards' {
        @(Get-DistJob -Name 'a*', 'b*').Count | Should -Be 0
        (Get-Command Get-DistJob).Parameters['Name'].ParameterType | Should -Be ([string[]])
    }

    It 'takes a DateTimeOffset for -DistributeAt and -InstallAt' {
        (Get-Command New-DistJob).Parameters['DistributeAt'].ParameterType | Should -Be ([Nullable[DateTimeOffset]])
        (Get-Command New-DistJob).Parameters['InstallAt'].ParameterType | Should -Be ([Nullable[DateTimeOffset]])
        $at = [DateTimeOffset]::new(2030, 1, 2, 3, 4, 5, [TimeSpan]::FromHours(9))
        { New-DistJob -Name 'Later' -Package 'Vocabulary Suite' -Destination 'nohost' -DistributeAt $at } | Should -Throw -ErrorId 'HostNotFound,*'
    }
}

Describe 'What a changing cmdlet writes' {
    # The rule (docs/architecture.md, "What a cmdlet writes"): a cmdlet that creates something writes what it created: New-*,
    # Start-/Restart-DistJob (an execution), Start-DistManager (a manager in this session), Connect-DistManager (a
    # connection), Export-DistOfflineMedia (media), Install-DistAvailablePackage (an install and its outcome). A cmdlet that
    # removes a whole thing (Remove-*, Deny-DistHost, Stop-DistManager) writes nothing and has no -PassThru: nothing is left
    # to write. Every other changing cmdlet writes nothing unless -PassThru, which writes the changed object(s).
    BeforeAll {
        $creates = @('Start-DistJob', 'Restart-DistJob', 'Start-DistManager', 'Connect-DistManager', 'Export-DistOfflineMedia', 'Install-DistAvailablePackage')
        $removes = @('Deny-DistHost', 'Stop-DistManager', 'Remove-DistJob', 'Remove-DistPackage', 'Remove-DistHost', 'Remove-DistHostGroup', 'Remove-DistIdGroup',
            'Remove-DistAccessKey', 'Remove-DistEnrollmentToken')
        $changing = @(Get-Command -Module JP1Dist -CommandType Cmdlet | Where-Object { $_.Verb -notin 'Get', 'Wait' })
        function Get-Kind([string] $Name) {
            if ($Name -like 'New-*' -or $Name -in $creates) { 'Creates' } elseif ($Name -in $removes) { 'Removes' } else { 'Changes' }
        }
    }

    It 'gives every changing cmdlet its kind: a creation writes its object, a removal nothing, a change nothing unless -PassThru' {
        $changing.Count | Should -BeGreaterThan 30
        foreach ($command in $changing) {
            $kind = Get-Kind $command.Name
            $outputs = @($command.OutputType | ForEach-Object { $_.Type } | Where-Object { $_ -and $_ -ne [void] })
            switch ($kind) {
                'Creates' {
                    $command.Parameters.ContainsKey('PassThru') | Should -BeFalse -Because "$($command.Name) creates something and always writes it"
                    $outputs.Count | Should -BeGreaterThan 0 -Because "$($command.Name) declares what it creates"
                }
                'Removes' {
                    $command.Parameters.ContainsKey('PassThru') | Should -BeFalse -Because "$($command.Name) removes a whole thing: nothing is left to pass through"
                    $outputs.Count | Should -Be 0 -Because "$($command.Name) writes nothing"
                }
                'Changes' {
                    $command.Parameters.ContainsKey('PassThru') | Should -BeTrue -Because "$($command.Name) changes an existing thing: it writes it only with -PassThru"
                    $command.Parameters['PassThru'].ParameterType | Should -Be ([Management.Automation.SwitchParameter])
                    $outputs.Count | Should -BeGreaterThan 0 -Because "$($command.Name) declares what -PassThru writes"
                }
            }
        }
    }

    It 'writes nothing without -PassThru and the changed object with it, for the changes this file can make' {
        $made = New-DistHostGroup -Name 'Output A' -Confirm:$false
        $made.Name | Should -Be 'Output A' -Because 'New-* writes what it created'
        New-DistHostGroup -Name 'Output B' -Confirm:$false | Out-Null
        New-DistIdGroup -Name 'Output Ids' -Confirm:$false | Out-Null

        Add-DistHostGroupMember -Group 'Output A' -MemberGroup 'Output B' -Confirm:$false | Should -BeNullOrEmpty
        Remove-DistHostGroupMember -Group 'Output A' -MemberGroup 'Output B' -Confirm:$false | Should -BeNullOrEmpty
        (Add-DistHostGroupMember -Group 'Output A' -MemberGroup 'Output B' -Confirm:$false -PassThru).Name | Should -Be 'Output A'
        (Remove-DistHostGroupMember -Group 'Output A' -MemberGroup 'Output B' -Confirm:$false -PassThru).Name | Should -Be 'Output A'

        Set-DistIdGroupPolicy -IdGroup 'Output Ids' -Rule @{ HostName = 'out-*' } -Confirm:$false | Should -BeNullOrEmpty
        @((Set-DistIdGroupPolicy -IdGroup 'Output Ids' -Rule @{ HostName = 'out-*' } -Confirm:$false -PassThru).Rules).Count | Should -Be 1

        Set-DistPackage -Name 'Vocabulary Suite' -Version '1.0' -ExpiresAt ([DateTime]::Now.AddDays(30)) -Confirm:$false | Should -BeNullOrEmpty
        (Set-DistPackage -Name 'Vocabulary Suite' -Version '1.0' -ExpiresAt ([DateTime]::Now.AddDays(30)) -Confirm:$false -PassThru).Name | Should -Be 'Vocabulary Suite'

        Update-DistSigningKey -Confirm:$false -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        @(Update-DistSigningKey -Confirm:$false -WarningAction SilentlyContinue -PassThru).State | Should -Contain 'Current'

        Remove-DistHostGroup -Name 'Output A', 'Output B' -Confirm:$false | Should -BeNullOrEmpty
        Remove-DistIdGroup -Name 'Output Ids' -Confirm:$false | Should -BeNullOrEmpty
    }
}
