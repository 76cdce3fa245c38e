# The Pester 5 semantics JP1Dist's test files rely on. This file must pass unchanged under real Pester 5 and under
# JP1Dist.PesterHost's shim; if the two ever disagree, the shim is wrong. Only .NET APIs are used for files because
# the PowerShell engine package that the host runs on has no Utility/Management cmdlets.

BeforeAll {
    $fileLevel = 'from the file-level BeforeAll'
}

Describe 'Variables flow from setup into tests' {
    # Runs during discovery only: nothing defined here is visible when the tests run.
    $discoveryOnly = 'discovery'

    BeforeAll {
        $fromBeforeAll = 'outer'
        function Get-Answer { 42 }
    }

    It 'sees variables and functions from BeforeAll' {
        $fromBeforeAll | Should -Be 'outer'
        Get-Answer | Should -Be 42
    }

    It 'sees the file-level BeforeAll' {
        $fileLevel | Should -Be 'from the file-level BeforeAll'
    }

    It 'does not see variables from the discovery phase' {
        $discoveryOnly | Should -BeNullOrEmpty
    }

    It 'sets a variable in its own scope' {
        $leaked = 'set in an earlier It'
        $fromBeforeAll = 'changed inside an It'
        $leaked | Should -Not -BeNullOrEmpty
    }

    It 'does not see variables set by an earlier It' {
        $leaked | Should -BeNullOrEmpty
        $fromBeforeAll | Should -Be 'outer'
    }

    It 'has $PSScriptRoot pointing at the folder of this file' {
        $PSScriptRoot | Should -Be ([System.IO.Path]::GetDirectoryName($PSCommandPath))
        [System.IO.Path]::Combine($PSScriptRoot, 'PesterShim.Tests.ps1') | Should -Exist
    }

    Context 'Nested block' {
        BeforeAll {
            $inner = "$fromBeforeAll+inner"
        }

        It 'sees the outer and its own BeforeAll' {
            $inner | Should -Be 'outer+inner'
            $fromBeforeAll | Should -Be 'outer'
        }

        Context 'Deeper' -Tag 'Nested' {
            It 'still sees every enclosing BeforeAll' {
                "$fileLevel|$fromBeforeAll|$inner" | Should -Be 'from the file-level BeforeAll|outer|outer+inner'
            }
        }
    }
}

Describe 'Setup and teardown order' {
    BeforeAll {
        # A shared list: changes made from child scopes are visible to the tests that follow.
        $log = [System.Collections.Generic.List[string]]::new()
    }

    BeforeEach { $log.Add('outer-before') }
    AfterEach { $log.Add('outer-after') }

    Context 'Inner' {
        BeforeEach {
            $log.Add('inner-before')
            $perTest = 'from BeforeEach'
        }
        AfterEach { $log.Add('inner-after') }

        It 'runs outer BeforeEach first and shares its scope with the test' {
            $log.Add('test')
            $perTest | Should -Be 'from BeforeEach'
            $log | Should -Be @('outer-before', 'inner-before', 'test')
        }

        It 'ran AfterEach innermost first once the previous test ended' {
            $log | Should -Be @('outer-before', 'inner-before', 'test', 'inner-after', 'outer-after', 'outer-before', 'inner-before')
        }

        It 'is skipped with a reason, which still runs AfterEach' {
            $log.Clear()
            Set-ItResult -Skipped -Because 'it demonstrates Set-ItResult'
            throw 'Set-ItResult stops the test before this line'
        }

        It 'sees AfterEach output of the skipped test' {
            $log | Should -Be @('inner-after', 'outer-after', 'outer-before', 'inner-before')
        }
    }

    It 'is skipped by -Skip without running its body' -Skip {
        throw 'a skipped test must not run'
    }
}

Describe 'Test cases' {
    It '<a> + <b> is <sum>' -TestCases @(
        @{ a = 1; b = 2; sum = 3 }
        @{ a = 20; b = 22; sum = 42 }
    ) {
        $a + $b | Should -Be $sum
    }

    It 'binds the keys of <name> to a param block too' -TestCases @(
        @{ name = 'jp1'; length = 3 }
    ) {
        param($name, $length)
        $name.Length | Should -Be $length
        $_.name | Should -Be 'jp1'
    }
}

Describe 'Data-driven block <name>' -ForEach @(
    @{ name = 'alpha'; size = 5 }
) {
    It 'sees the block data' {
        $name.Length | Should -Be $size
    }
}

Describe 'Should -Throw' {
    BeforeAll {
        function Get-MissingPackage {
            [CmdletBinding()]
            param()
            $record = [System.Management.Automation.ErrorRecord]::new(
                [System.InvalidOperationException]::new('Package abc was not found.'), 'JP1Dist.PackageNotFound', 'ObjectNotFound', 'abc')
            $PSCmdlet.ThrowTerminatingError($record)
        }
    }

    It 'filters on message wildcard, exception type and error id' {
        $record = [System.Management.Automation.ErrorRecord]::new(
            [System.InvalidOperationException]::new('Package abc was not found.'), 'JP1Dist.PackageNotFound', 'ObjectNotFound', 'abc')
        { throw $record } | Should -Throw -ExpectedMessage 'Package * was not found.' -ExceptionType ([System.InvalidOperationException]) -ErrorId 'JP1Dist.PackageNotFound'
    }

    It 'matches the whole FullyQualifiedErrorId, which for a command error ends in the command name' {
        { Get-MissingPackage } | Should -Throw -ErrorId 'JP1Dist.PackageNotFound,Get-MissingPackage'
        { Get-MissingPackage } | Should -Throw -ErrorId 'JP1Dist.PackageNotFound*'
    }

    It 'returns the error record with -PassThru' {
        $err = { Get-MissingPackage } | Should -Throw -PassThru
        $err | Should -BeOfType [System.Management.Automation.ErrorRecord]
        $err.TargetObject | Should -Be 'abc'
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'fails when nothing is thrown, and -Not -Throw passes' {
        { } | Should -Not -Throw
        { { } | Should -Throw } | Should -Throw -ExpectedMessage 'Expected an exception to be thrown, but no exception was thrown*'
    }
}

Describe 'Should operators' {
    It 'compare values, with and without -Not' {
        1 | Should -Be 1
        'ABC' | Should -Be 'abc'
        'ABC' | Should -Not -BeExactly 'abc'
        1 | Should -Not -Be 2
        $true | Should -BeTrue
        0 | Should -BeFalse
        5 | Should -BeGreaterThan 3
        5 | Should -Not -BeLessThan 3
        3 | Should -BeGreaterOrEqual 3
        3 | Should -BeLessOrEqual 3
        2 | Should -BeLessThan 3
        'JP1Dist.Agent' | Should -BeLike 'jp1dist.*'
        'JP1Dist.Agent' | Should -Not -BeLikeExactly 'jp1dist.*'
        'version 1.2.3' | Should -Match '\d+\.\d+\.\d+'
        'Version' | Should -Not -MatchExactly '^version$'
        2 | Should -BeIn 1, 2, 3
        'text' | Should -BeOfType [string]
        42 | Should -Not -BeOfType [string]
    }

    It 'treat pipeline input the way Pester does' {
        $null | Should -BeNullOrEmpty
        @() | Should -BeNullOrEmpty
        '' | Should -BeNullOrEmpty
        @() | Should -HaveCount 0
        1, 2, 3 | Should -HaveCount 3
        1, 2, 3 | Should -Contain 2
        1, 2, 3 | Should -Not -Contain 4
        1, 2, 3 | Should -Be @(1, 2, 3)
        1, 2, 3 | Should -Not -Be @(1, 2)
        Should -ActualValue 7 -Be 7
    }

    It 'check files' {
        $file = [System.IO.Path]::Combine($TestDrive, 'settings.ini')
        $file | Should -Not -Exist
        [System.IO.File]::WriteAllText($file, "[agent]`nport=22350`n")
        $file | Should -Exist
        $file | Should -FileContentMatch '^port=\d+$'
        $file | Should -Not -FileContentMatch 'password'
    }

    It 'fail with Pester''s messages, including -Because' {
        { 2 | Should -Be 3 -Because 'the numbers differ' } | Should -Throw -ExpectedMessage 'Expected 3, because the numbers differ, but got 2.'
        { $null | Should -Not -BeNullOrEmpty } | Should -Throw -ExpectedMessage 'Expected a value, but got $null or empty.'
        { 1, 2 | Should -HaveCount 3 } | Should -Throw -ExpectedMessage 'Expected a collection with size 3, but got collection with size 2 @(1, 2).'
        { 1, 2 | Should -Contain 5 } | Should -Throw -ExpectedMessage 'Expected 5 to be found in collection @(1, 2), but it was not found.'
        { 'abc' | Should -Match 'x' } | Should -Throw -ExpectedMessage "Expected regular expression 'x' to match 'abc', but it did not match."
    }
}

Describe 'Skipped block' -Skip {
    BeforeAll {
        throw 'setup of a skipped block must not run'
    }

    It 'is reported as skipped' {
        throw 'a test in a skipped block must not run'
    }
}
