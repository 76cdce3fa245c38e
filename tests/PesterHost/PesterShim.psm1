# PesterShim: the subset of Pester 5 that JP1Dist's tests use, for hosts without Pester (see JP1Dist.PesterHost).
#
# Two phases, as in Pester 5:
#   discovery - the test file runs; Describe/Context bodies run at once and only register blocks, tests and setup blocks;
#   run       - each block gets a new user scope where its BeforeAll blocks are dot-sourced, each It gets a child scope
#               of that where BeforeEach, the It body and AfterEach are dot-sourced; AfterEach/AfterAll always run.
#
# Scoping trick: test scriptblocks belong to the user's session state, this module to its own. Dot-sourcing a user
# scriptblock from here runs it in the user's *current* scope, and the host-provided $script:Invoker (a scriptblock
# bound to the user's session state) opens a new user scope around a callback into this module. Together they nest
# user scopes exactly like Pester does, without reflection on engine internals.

Set-StrictMode -Off

$script:Invoker = $null
$script:UserState = $null
$script:Sink = $null
$script:CurrentBlock = $null
$script:CurrentTest = $null
$script:InRun = $false
$script:SkipFqid = 'PesterShimTestSkipped'
$script:AssertionFqid = 'PesterAssertionFailed'

#region model

function New-ShimBlock {
    param([string] $Name, [string] $Kind, $Parent, [bool] $Skip, $Data, [bool] $HasData)
    [pscustomobject]@{
        IsTest     = $false
        Name       = $Name
        Kind       = $Kind
        Parent     = $Parent
        Path       = if ($null -eq $Parent) { [string[]]@() } else { [string[]](@($Parent.Path) + $Name) }
        Skip       = $Skip -or ($null -ne $Parent -and $Parent.Skip)
        Data       = $Data
        HasData    = $HasData
        Items      = [System.Collections.Generic.List[object]]::new()
        BeforeAll  = [System.Collections.Generic.List[scriptblock]]::new()
        AfterAll   = [System.Collections.Generic.List[scriptblock]]::new()
        BeforeEach = [System.Collections.Generic.List[scriptblock]]::new()
        AfterEach  = [System.Collections.Generic.List[scriptblock]]::new()
    }
}

function Get-ShimTests($Block) {
    foreach ($item in $Block.Items) {
        if ($item.IsTest) { $item } else { Get-ShimTests $item }
    }
}

# Expands '<name>' and '<name.Property>' in block and test names from the -ForEach/-TestCases item, like Pester 5.
function Expand-ShimName([string] $Name, $Item, [bool] $HasData) {
    if (-not $HasData) { return $Name }
    [regex]::Replace($Name, '<([^<>]+)>', {
            param($m)
            $parts = $m.Groups[1].Value.Trim().Split('.')
            $value = if ($parts[0] -eq '_') { $Item }
            elseif ($Item -is [System.Collections.IDictionary]) { $Item[$parts[0]] }
            else { $m.Value }
            for ($i = 1; $i -lt $parts.Length -and $null -ne $value; $i++) { $value = $value.($parts[$i]) }
            if ($null -eq $value) { '$null' } else { "$value" }
        })
}

# Data of a -ForEach item becomes variables: every key of a hashtable, and $_ for the item itself.
function Set-ShimUserVariables($Data, [bool] $HasData) {
    if (-not $HasData) { return }
    if ($Data -is [System.Collections.IDictionary]) {
        foreach ($key in $Data.Keys) { $script:UserState.PSVariable.Set([string]$key, $Data[$key]) }
    }
    $script:UserState.PSVariable.Set('_', $Data)
}

function Get-ShimLocation($ErrorRecord) {
    if ($ErrorRecord.FullyQualifiedErrorId -eq $script:AssertionFqid -and $ErrorRecord.TargetObject -is [hashtable]) {
        $t = $ErrorRecord.TargetObject
        return "at $($t.File):$($t.Line)`n$($t.LineText.Trim())"
    }
    $lines = @()
    $info = $ErrorRecord.InvocationInfo
    $own = $null
    if ($info -and $info.ScriptName -and $info.ScriptName -notmatch 'PesterShim\.psm1$') {
        $lines += "at $($info.ScriptName):$($info.ScriptLineNumber)", $info.Line.Trim()
        $own = "$($info.ScriptName): line $($info.ScriptLineNumber)"
    }
    # The user's part of the stack shows how the test got there; the shim's own frames and the frame already shown add nothing.
    foreach ($frame in ("$($ErrorRecord.ScriptStackTrace)" -split "`r?`n")) {
        if ($frame -and $frame -notmatch 'PesterShim\.psm1' -and $frame -notmatch '<No file>' -and -not ($own -and $frame.EndsWith($own))) { $lines += $frame }
    }
    $lines -join "`n"
}

function Send-ShimResult([string[]] $Path, [string] $Result, [string] $Message, [string] $Location, [double] $DurationMs, [string] $Kind = 'Test') {
    $script:Sink.Report($Path, $Result, $Message, $Location, $DurationMs, $Kind)
}

#endregion

#region discovery keywords

function Add-ShimBlock([string] $Kind, [string] $Name, [scriptblock] $Fixture, [bool] $Skip, [object[]] $ForEach, [bool] $HasForEach, [bool] $AllowEmpty) {
    if ($null -eq $script:CurrentBlock) {
        throw "$Kind '$Name' must run inside a test file started by JP1Dist.PesterHost (Invoke-PesterShimFile)."
    }
    if ($script:InRun) { throw "$Kind '$Name' cannot be defined inside It, BeforeAll or other run-phase blocks." }
    if ($null -eq $Fixture) { throw "$Kind '$Name' has no script block." }

    # One pass with no data unless -ForEach was given ('foreach' skips a plain $null, hence the array).
    $items = @($null)
    if ($HasForEach) {
        if (($null -eq $ForEach -or $ForEach.Count -eq 0) -and -not $AllowEmpty) {
            throw "$Kind '$Name' got an empty -ForEach; use -AllowNullOrEmptyForEach when that is expected."
        }
        $items = @($ForEach)
    }

    $parent = $script:CurrentBlock
    foreach ($item in $items) {
        $block = New-ShimBlock -Name (Expand-ShimName $Name $item $HasForEach) -Kind $Kind -Parent $parent -Skip $Skip -Data $item -HasData $HasForEach
        $parent.Items.Add($block)
        $script:CurrentBlock = $block
        try {
            # The body runs now (discovery) in a fresh user scope, so its variables do not reach the run phase.
            & $script:Invoker ${function:Invoke-ShimDiscoveryBody} @{ Block = $block; Fixture = $Fixture }
        }
        finally {
            $script:CurrentBlock = $parent
        }
    }
}

function Invoke-ShimDiscoveryBody($Arguments) {
    Set-ShimUserVariables $Arguments.Block.Data $Arguments.Block.HasData
    try {
        $null = . $Arguments.Fixture
    }
    catch {
        $block = $Arguments.Block
        Send-ShimResult -Path $block.Path -Result Failed -Kind Block -Message "Discovery in $($block.Kind) '$($block.Name)' failed: $($_.Exception.Message)" -Location (Get-ShimLocation $_)
        $block.Items.Clear()
        $script:DiscoveryFailed = $true
    }
}

function Describe {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)] [string] $Name,
        [Parameter(Position = 1)] [scriptblock] $Fixture,
        [string[]] $Tag,
        [switch] $Skip,
        [Alias('TestCases')] [object[]] $ForEach,
        [switch] $AllowNullOrEmptyForEach
    )
    Add-ShimBlock -Kind Describe -Name $Name -Fixture $Fixture -Skip $Skip.IsPresent -ForEach $ForEach -HasForEach $PSBoundParameters.ContainsKey('ForEach') -AllowEmpty $AllowNullOrEmptyForEach.IsPresent
}

function Context {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)] [string] $Name,
        [Parameter(Position = 1)] [scriptblock] $Fixture,
        [string[]] $Tag,
        [switch] $Skip,
        [Alias('TestCases')] [object[]] $ForEach,
        [switch] $AllowNullOrEmptyForEach
    )
    Add-ShimBlock -Kind Context -Name $Name -Fixture $Fixture -Skip $Skip.IsPresent -ForEach $ForEach -HasForEach $PSBoundParameters.ContainsKey('ForEach') -AllowEmpty $AllowNullOrEmptyForEach.IsPresent
}

function It {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)] [string] $Name,
        [Parameter(Position = 1)] [scriptblock] $Test,
        [Alias('TestCases')] [object[]] $ForEach,
        [string[]] $Tag,
        [switch] $Skip,
        [switch] $AllowNullOrEmptyForEach
    )
    $parent = $script:CurrentBlock
    if ($null -eq $parent -or $null -eq $parent.Parent) { throw "It '$Name' must be inside a Describe or Context block." }
    if ($script:InRun) { throw "It '$Name' cannot be defined inside another It or a run-phase block." }

    $hasForEach = $PSBoundParameters.ContainsKey('ForEach')
    $items = @($null)
    if ($hasForEach) {
        if (($null -eq $ForEach -or $ForEach.Count -eq 0) -and -not $AllowNullOrEmptyForEach) {
            throw "It '$Name' got an empty -ForEach/-TestCases; use -AllowNullOrEmptyForEach when that is expected."
        }
        $items = @($ForEach)
    }

    foreach ($item in $items) {
        $testName = Expand-ShimName $Name $item $hasForEach
        $parent.Items.Add([pscustomobject]@{
                IsTest  = $true
                Name    = $testName
                Block   = $parent
                Path    = [string[]](@($parent.Path) + $testName)
                Body    = $Test
                # Pester reports an It without a body as skipped rather than as an error.
                Skip    = $Skip.IsPresent -or $parent.Skip -or $null -eq $Test
                Data    = $item
                HasData = $hasForEach
            })
    }
}

function Register-ShimSetup([string] $Kind, [scriptblock] $ScriptBlock) {
    if ($null -eq $script:CurrentBlock) { throw "$Kind must run inside a test file started by JP1Dist.PesterHost." }
    if ($script:InRun) { throw "$Kind cannot be used inside It or another setup block." }
    $script:CurrentBlock.$Kind.Add($ScriptBlock)
}

function BeforeAll { param([Parameter(Mandatory, Position = 0)] [scriptblock] $Scriptblock) Register-ShimSetup BeforeAll $Scriptblock }
function AfterAll { param([Parameter(Mandatory, Position = 0)] [scriptblock] $Scriptblock) Register-ShimSetup AfterAll $Scriptblock }
function BeforeEach { param([Parameter(Mandatory, Position = 0)] [scriptblock] $Scriptblock) Register-ShimSetup BeforeEach $Scriptblock }
function AfterEach { param([Parameter(Mandatory, Position = 0)] [scriptblock] $Scriptblock) Register-ShimSetup AfterEach $Scriptblock }

# Runs at once in the caller's scope, so variables it sets can feed -ForEach during discovery.
function BeforeDiscovery { param([Parameter(Mandatory, Position = 0)] [scriptblock] $Scriptblock) . $Scriptblock }

function Set-ItResult {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Skipped')] [switch] $Skipped,
        [Parameter(Mandatory, ParameterSetName = 'Inconclusive')] [switch] $Inconclusive,
        [Parameter(Mandatory, ParameterSetName = 'Pending')] [switch] $Pending,
        [string] $Because
    )
    if ($null -eq $script:CurrentTest) { throw 'Set-ItResult can only be used inside It.' }
    # Like Pester, this stops the test; Inconclusive and Pending are reported as skipped (Pester 5 does the same for Pending).
    $message = "is $($PSCmdlet.ParameterSetName.ToLowerInvariant())"
    if ($Because) { $message += ", because $Because" }
    $record = [System.Management.Automation.ErrorRecord]::new([System.Exception]::new($message), $script:SkipFqid, 'NotSpecified', $null)
    throw $record
}

#endregion

#region run phase

function Invoke-PesterShimFile {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Path,
        [Parameter(Mandatory)] [scriptblock] $Invoker,
        [Parameter(Mandatory)] [object] $Sink
    )
    $script:UserState = $PSCmdlet.SessionState
    $script:Invoker = $Invoker
    $script:Sink = $Sink
    $script:DiscoveryFailed = $false
    $fileName = [System.IO.Path]::GetFileName($Path)
    $root = New-ShimBlock -Name $fileName -Kind Root -Parent $null -Skip $false -Data $null -HasData $false
    $script:CurrentBlock = $root
    try {
        # A string makes the invoker run the file itself, so the file executes in the user's session state.
        $null = & $Invoker $Path
    }
    catch {
        Send-ShimResult -Path @($fileName) -Result Failed -Kind Block -Message "Discovery of '$fileName' failed: $($_.Exception.Message)" -Location (Get-ShimLocation $_)
        $script:DiscoveryFailed = $true
    }
    finally {
        $script:CurrentBlock = $null
    }

    # As in Pester 5, a file whose discovery failed runs none of its tests.
    if ($script:DiscoveryFailed) { return }
    & $Invoker ${function:Invoke-ShimBlock} $root
}

function Invoke-ShimBlock($Block) {
    $tests = @(Get-ShimTests $Block)
    if ($tests.Count -eq 0) { return }
    $runnable = @($tests | Where-Object { -not $_.Skip })
    if ($runnable.Count -eq 0) {
        # Pester does not run setup for a block whose tests are all skipped.
        foreach ($t in $tests) { Send-ShimResult -Path $t.Path -Result Skipped }
        return
    }

    $script:InRun = $true
    # Module scopes nest dynamically too; reset so an inner block never sees (and deletes) its parent's TestDrive.
    $testDrive = $null
    Set-ShimUserVariables $Block.Data $Block.HasData
    if ($Block.Kind -ne 'Root' -and $null -eq $Block.Parent.Parent) {
        # Top-level Describe: a TestDrive folder like Pester's, removed when the block is done.
        $testDrive = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'PesterShim-' + [guid]::NewGuid().ToString('n'))
        $null = [System.IO.Directory]::CreateDirectory($testDrive)
        $script:UserState.PSVariable.Set('TestDrive', $testDrive)
    }

    $failure = $null
    $failedAt = $null
    try {
        foreach ($setup in $Block.BeforeAll) { $null = . $setup }
    }
    catch {
        $failure = $_
        $failedAt = Get-ShimLocation $_
        Send-ShimResult -Path (Get-ShimBlockPath $Block) -Result Failed -Kind Block -Message "BeforeAll failed: $($_.Exception.Message)" -Location $failedAt
    }

    try {
        if ($null -ne $failure) {
            foreach ($t in $tests) {
                if ($t.Skip) { Send-ShimResult -Path $t.Path -Result Skipped }
                else { Send-ShimResult -Path $t.Path -Result Failed -Message "BeforeAll failed: $($failure.Exception.Message)" -Location $failedAt }
            }
        }
        else {
            foreach ($item in $Block.Items) {
                if (-not $item.IsTest) { & $script:Invoker ${function:Invoke-ShimBlock} $item }
                elseif ($item.Skip) { Send-ShimResult -Path $item.Path -Result Skipped }
                else { & $script:Invoker ${function:Invoke-ShimTest} $item }
            }
        }
    }
    finally {
        foreach ($teardown in $Block.AfterAll) {
            try { $null = . $teardown }
            catch { Send-ShimResult -Path (Get-ShimBlockPath $Block) -Result Failed -Kind Block -Message "AfterAll failed: $($_.Exception.Message)" -Location (Get-ShimLocation $_) }
        }
        if ($testDrive -and [System.IO.Directory]::Exists($testDrive)) {
            try { [System.IO.Directory]::Delete($testDrive, $true) } catch { Write-Warning "Could not remove TestDrive '$testDrive': $($_.Exception.Message)" }
        }
    }
}

function Get-ShimBlockPath($Block) {
    if ($Block.Path.Count -gt 0) { $Block.Path } else { , $Block.Name }
}

function Invoke-ShimTest($Test) {
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    $script:CurrentTest = $Test
    $errorRecord = $null
    Set-ShimUserVariables $Test.Data $Test.HasData

    $chain = [System.Collections.Generic.List[object]]::new()
    for ($b = $Test.Block; $null -ne $b; $b = $b.Parent) { $chain.Insert(0, $b) }
    try {
        foreach ($b in $chain) { foreach ($setup in $b.BeforeEach) { $null = . $setup } }
        $splat = @{}
        if ($Test.HasData -and $Test.Data -is [System.Collections.IDictionary] -and $null -ne $Test.Body.Ast.ParamBlock) {
            # Pester binds test-case keys to a param block too; only declared names, or binding would fail.
            foreach ($p in $Test.Body.Ast.ParamBlock.Parameters) {
                $n = $p.Name.VariablePath.UserPath
                if ($Test.Data.Contains($n)) { $splat[$n] = $Test.Data[$n] }
            }
        }
        $null = . $Test.Body @splat
    }
    catch {
        $errorRecord = $_
    }
    finally {
        # AfterEach runs innermost first and always; its error only counts when the test itself passed.
        for ($i = $chain.Count - 1; $i -ge 0; $i--) {
            foreach ($teardown in $chain[$i].AfterEach) {
                try { $null = . $teardown } catch { if ($null -eq $errorRecord) { $errorRecord = $_ } }
            }
        }
        $script:CurrentTest = $null
    }

    $watch.Stop()
    if ($null -eq $errorRecord) {
        Send-ShimResult -Path $Test.Path -Result Passed -DurationMs $watch.Elapsed.TotalMilliseconds
    }
    elseif ($errorRecord.FullyQualifiedErrorId -eq $script:SkipFqid) {
        Send-ShimResult -Path $Test.Path -Result Skipped -Message $errorRecord.Exception.Message -DurationMs $watch.Elapsed.TotalMilliseconds
    }
    else {
        Send-ShimResult -Path $Test.Path -Result Failed -Message $errorRecord.Exception.Message -Location (Get-ShimLocation $errorRecord) -DurationMs $watch.Elapsed.TotalMilliseconds
    }
}

#endregion

#region Should

function Format-ShimValue($Value) {
    if ($null -eq $Value) { return '$null' }
    if ($Value -is [bool]) { return '$' + "$Value".ToLowerInvariant() }
    if ($Value -is [string]) { return "'$Value'" }
    if ($Value -is [type]) { return "[$($Value.FullName)]" }
    if ($Value -is [scriptblock]) { return "{$Value}" }
    if ($Value -is [System.Collections.IDictionary]) {
        $pairs = foreach ($k in $Value.Keys) { "$k=$(Format-ShimValue $Value[$k])" }
        return '@{' + ($pairs -join '; ') + '}'
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        $parts = foreach ($v in $Value) { Format-ShimValue $v }
        return '@(' + (@($parts) -join ', ') + ')'
    }
    if ($Value -is [IFormattable]) { return $Value.ToString($null, [cultureinfo]::InvariantCulture) }
    "$Value"
}

function Format-ShimBecause([string] $Because) {
    if ([string]::IsNullOrWhiteSpace($Because)) { return '' }
    " because $($Because.Trim() -replace '^because\s'),"
}

function Test-ShimArraysEqual($First, $Second, [bool] $CaseSensitive) {
    $a = @($First); $b = @($Second)
    $aEmpty = $a.Count -eq 0 -or ($a.Count -eq 1 -and $null -eq $a[0])
    $bEmpty = $b.Count -eq 0 -or ($b.Count -eq 1 -and $null -eq $b[0])
    if ($aEmpty -or $bEmpty) { return $aEmpty -and $bEmpty }
    if ($a.Count -ne $b.Count) { return $false }
    for ($i = 0; $i -lt $a.Count; $i++) {
        if ($a[$i] -is [array] -or $b[$i] -is [array]) {
            if (-not (Test-ShimArraysEqual $a[$i] $b[$i] $CaseSensitive)) { return $false }
        }
        # Expected on the left, as in Pester: PowerShell converts the right operand to the left one's type.
        elseif ($CaseSensitive) { if (-not ($b[$i] -ceq $a[$i])) { return $false } }
        elseif (-not ($b[$i] -eq $a[$i])) { return $false }
    }
    $true
}

function Get-ShimStringDifference([string] $Expected, [string] $Actual, [bool] $CaseSensitive, [string] $Because) {
    $max = [Math]::Max($Expected.Length, $Actual.Length)
    $index = 0
    while ($index -lt $max) {
        $e = if ($index -lt $Expected.Length) { [string]$Expected[$index] } else { $null }
        $a = if ($index -lt $Actual.Length) { [string]$Actual[$index] } else { $null }
        $same = if ($CaseSensitive) { $e -ceq $a } else { $e -eq $a }
        if (-not $same) { break }
        $index++
    }
    $lines = @("Expected strings to be the same,$(Format-ShimBecause $Because) but they were different.")
    if ($Expected.Length -ne $Actual.Length) {
        $lines += "Expected length: $($Expected.Length)", "Actual length:   $($Actual.Length)"
    }
    else { $lines += "String lengths are both $($Expected.Length)." }
    $lines += "Strings differ at index $index."
    $lines += "Expected: '$Expected'", "But was:  '$Actual'", ((' ' * 11) + ('-' * $index) + '^')
    $lines -join "`n"
}

# Returns $null when the assertion holds, otherwise Pester's failure message.
function Test-ShimAssertion([string] $Operator, $Actual, [bool] $Negate, [hashtable] $P) {
    $because = Format-ShimBecause $P.Because
    $expected = $P.ExpectedValue
    switch ($Operator) {
        { $_ -in 'Be', 'BeExactly' } {
            $cs = $Operator -eq 'BeExactly'
            $ok = Test-ShimArraysEqual $Actual $expected $cs
            if ($ok -ne $Negate) { return }
            $exactly = if ($cs) { ' exactly' } else { '' }
            if ($Negate) {
                $what = if ($cs) { 'got exactly the same value' } else { 'got the same value' }
                return "Expected $(Format-ShimValue $expected) to be different from the actual value,$because but $what."
            }
            $a = $(if (@($Actual).Count -eq 1) { @($Actual)[0] } else { $Actual })
            $e = $(if (@($expected).Count -eq 1) { @($expected)[0] } else { $expected })
            if ($a -is [string] -and $e -is [string]) { return Get-ShimStringDifference $e $a $cs $P.Because }
            return "Expected$exactly $(Format-ShimValue $e),$because but got $(Format-ShimValue $a)."
        }
        'BeTrue' {
            if ([bool]$Actual -ne $Negate) { return }
            $want = if ($Negate) { '$false' } else { '$true' }
            return "Expected $want,$because but got $(Format-ShimValue $Actual)."
        }
        'BeFalse' {
            if ((-not [bool]$Actual) -ne $Negate) { return }
            $want = if ($Negate) { '$true' } else { '$false' }
            return "Expected $want,$because but got $(Format-ShimValue $Actual)."
        }
        'BeNullOrEmpty' {
            $items = @($Actual)
            $ok = if ($null -eq $Actual -or $items.Count -eq 0) { $true }
            elseif ($items.Count -eq 1) {
                if ($items[0] -is [hashtable]) { $items[0].Count -eq 0 } else { [string]::IsNullOrEmpty($items[0]) }
            }
            else { $false }
            if ($ok -ne $Negate) { return }
            if ($Negate) { return "Expected a value,$because but got `$null or empty." }
            return "Expected `$null or empty,$because but got $(Format-ShimValue $Actual)."
        }
        { $_ -in 'BeGreaterThan', 'BeLessThan', 'BeGreaterOrEqual', 'BeLessOrEqual' } {
            # Expected on the left like Pester, so '5' | Should -BeGreaterThan 10 compares as numbers.
            $ok = switch ($Operator) {
                'BeGreaterThan' { $expected -lt $Actual }
                'BeLessThan' { $expected -gt $Actual }
                'BeGreaterOrEqual' { $expected -le $Actual }
                'BeLessOrEqual' { $expected -ge $Actual }
            }
            if ($ok -ne $Negate) { return }
            $relation = @{
                'BeGreaterThan'    = 'greater than', 'less than or equal to'
                'BeLessThan'       = 'less than', 'greater than or equal to'
                'BeGreaterOrEqual' = 'greater than or equal to', 'less than'
                'BeLessOrEqual'    = 'less than or equal to', 'greater than'
            }[$Operator][[int]$Negate]
            return "Expected the actual value to be $relation $(Format-ShimValue $expected),$because but got $(Format-ShimValue $Actual)."
        }
        { $_ -in 'BeLike', 'BeLikeExactly' } {
            $cs = $Operator -eq 'BeLikeExactly'
            $ok = if ($cs) { "$Actual" -clike $expected } else { "$Actual" -like $expected }
            if ($ok -ne $Negate) { return }
            $kind = if ($cs) { 'case sensitive like wildcard' } else { 'like wildcard' }
            if ($Negate) { return "Expected $kind $(Format-ShimValue $expected) to not match $(Format-ShimValue $Actual),$because but it did match." }
            return "Expected $kind $(Format-ShimValue $expected) to match $(Format-ShimValue $Actual),$because but it did not match."
        }
        { $_ -in 'Match', 'MatchExactly' } {
            $cs = $Operator -eq 'MatchExactly'
            $regex = $P.RegularExpression
            $ok = if ($cs) { $Actual -cmatch $regex } else { $Actual -match $regex }
            if ($ok -ne $Negate) { return }
            $how = if ($cs) { 'case sensitively match' } else { 'match' }
            if ($Negate) { return "Expected regular expression $(Format-ShimValue $regex) to not $how $(Format-ShimValue $Actual),$because but it did match." }
            return "Expected regular expression $(Format-ShimValue $regex) to $how $(Format-ShimValue $Actual),$because but it did not match."
        }
        'Contain' {
            $ok = $Actual -contains $expected
            if ($ok -ne $Negate) { return }
            if ($Negate) { return "Expected $(Format-ShimValue $expected) to not be found in collection $(Format-ShimValue $Actual),$because but it was found." }
            return "Expected $(Format-ShimValue $expected) to be found in collection $(Format-ShimValue $Actual),$because but it was not found."
        }
        'BeIn' {
            $ok = $expected -contains $Actual
            if ($ok -ne $Negate) { return }
            if ($Negate) { return "Expected collection $(Format-ShimValue $expected) to not contain $(Format-ShimValue $Actual),$because but it was found." }
            return "Expected collection $(Format-ShimValue $expected) to contain $(Format-ShimValue $Actual),$because but it was not found."
        }
        'HaveCount' {
            $want = [int]$expected
            $count = if ($null -eq $Actual) { 0 } else { @($Actual).Count }
            if (($count -eq $want) -ne $Negate) { return }
            if ($Negate) {
                $expect = if ($want -eq 0) { 'Expected a non-empty collection' } else { "Expected a collection with size different from $want" }
                $but = if ($count -ne 0) { "but got collection with that size $(Format-ShimValue $Actual)." } else { 'but got an empty collection.' }
                return "$expect,$because $but"
            }
            $expect = if ($want -eq 0) { 'Expected an empty collection' } else { "Expected a collection with size $want" }
            $but = if ($count -ne 0) { "but got collection with size $count $(Format-ShimValue $Actual)." } else { 'but got an empty collection.' }
            return "$expect,$because $but"
        }
        'BeOfType' {
            $type = $P.ExpectedType
            if ($type -isnot [type]) {
                # In argument mode '[string]' arrives as text; Pester strips the brackets too.
                $type = "$type" -replace '^\[(.*)\]$', '$1'
                $resolved = $type -as [type]
                if ($null -eq $resolved) { throw [ArgumentException] "Could not find type [$type]. Make sure that the assembly that contains that type is loaded." }
                $type = $resolved
            }
            $ok = $Actual -is $type
            if ($ok -ne $Negate) { return }
            $actualType = if ($null -eq $Actual) { '$null' } else { Format-ShimValue $Actual.GetType() }
            $not = if ($Negate) { 'not ' } else { '' }
            return "Expected the value to ${not}have type $(Format-ShimValue $type) or any of its subtypes,$because but got $(Format-ShimValue $Actual) with type $actualType."
        }
        'Exist' {
            $path = "$Actual"
            $ok = $path -ne '' -and ([System.IO.File]::Exists($path) -or [System.IO.Directory]::Exists($path))
            if ($ok -ne $Negate) { return }
            if ($Negate) { return "Expected path $(Format-ShimValue $path) to not exist,$because but it did exist." }
            return "Expected path $(Format-ShimValue $path) to exist,$because but it did not exist."
        }
        'FileContentMatch' {
            $path = "$Actual"
            $lines = if ([System.IO.File]::Exists($path)) { [System.IO.File]::ReadAllLines($path) } else { throw [System.IO.FileNotFoundException]::new("Cannot find file '$path'.", $path) }
            $ok = [bool](@($lines) -match $P.ExpectedContent)
            if ($ok -ne $Negate) { return }
            if ($Negate) { return "Expected $(Format-ShimValue $P.ExpectedContent) to not be found in file '$path',$because but it was found." }
            return "Expected $(Format-ShimValue $P.ExpectedContent) to be found in file '$path',$because but it was not found."
        }
        default { throw "Should operator '$Operator' is not supported by PesterShim." }
    }
}

# Should -Throw is separate because it can hand back the error record (-PassThru).
function Test-ShimThrow($Actual, [bool] $Negate, [hashtable] $P) {
    if ($Actual -isnot [scriptblock]) {
        throw [ArgumentException] "Input is missing or not a ScriptBlock. Input to '-Throw' and '-Not -Throw' must be enclosed in curly braces."
    }
    $because = Format-ShimBecause $P.Because
    $thrown = $null
    try { $null = & $Actual } catch { $thrown = $_ }
    $where = if ($thrown -and $thrown.InvocationInfo) { ($thrown.InvocationInfo.PositionMessage -split '\r?\n' -match '\S' -join "`n") -replace '^At ', 'from ' }

    if ($Negate) {
        if ($null -eq $thrown) { return @{ Message = $null } }
        return @{ Message = "Expected no exception to be thrown,$because but an exception `"$($thrown.Exception.Message)`" was thrown $where." }
    }

    $filters = @(); $buts = @()
    if ($null -ne $P.ExceptionType) {
        $filters += "type $(Format-ShimValue $P.ExceptionType)"
        if ($thrown -and $thrown.Exception -isnot $P.ExceptionType) { $buts += "the exception type was $(Format-ShimValue $thrown.Exception.GetType())" }
    }
    if (-not [string]::IsNullOrWhiteSpace($P.ExpectedMessage)) {
        $filters += "message like $(Format-ShimValue ([System.Management.Automation.WildcardPattern]::Unescape($P.ExpectedMessage)))"
        if ($thrown -and -not ($thrown.Exception.Message -like $P.ExpectedMessage)) { $buts += "the message was $(Format-ShimValue $thrown.Exception.Message)" }
    }
    if (-not [string]::IsNullOrWhiteSpace($P.ErrorId)) {
        # Pester 5 matches the whole FullyQualifiedErrorId with -like (so 'Id,Command' needs 'Id*' or the full id).
        $filters += "FullyQualifiedErrorId $(Format-ShimValue $P.ErrorId)"
        if ($thrown -and -not ($thrown.FullyQualifiedErrorId -like $P.ErrorId)) { $buts += "the FullyQualifiedErrorId was $(Format-ShimValue $thrown.FullyQualifiedErrorId)" }
    }
    if ($null -eq $thrown) { $buts += 'no exception was thrown' }
    if ($buts.Count -gt 0) {
        $filter = if ($filters.Count -gt 0) { ' with ' + (Join-ShimAnd $filters) } else { '' }
        return @{ Message = "Expected an exception$filter to be thrown,$because but $(Join-ShimAnd $buts). $where".Trim() }
    }
    @{ Message = $null; Record = $thrown }
}

function Join-ShimAnd([string[]] $Items) {
    if ($Items.Count -le 1) { return $Items -join '' }
    ($Items[0..($Items.Count - 2)] -join ', ') + ' and ' + $Items[-1]
}

function Should {
    [CmdletBinding(DefaultParameterSetName = 'None')]
    param(
        [Parameter(ValueFromPipeline)] [AllowNull()] [AllowEmptyCollection()] [object] $ActualValue,
        [switch] $Not,
        [string] $Because,

        [Parameter(Mandatory, ParameterSetName = 'Be')] [Alias('EQ')] [switch] $Be,
        [Parameter(Mandatory, ParameterSetName = 'BeExactly')] [Alias('CEQ')] [switch] $BeExactly,
        [Parameter(Mandatory, ParameterSetName = 'BeTrue')] [switch] $BeTrue,
        [Parameter(Mandatory, ParameterSetName = 'BeFalse')] [switch] $BeFalse,
        [Parameter(Mandatory, ParameterSetName = 'BeNullOrEmpty')] [switch] $BeNullOrEmpty,
        [Parameter(Mandatory, ParameterSetName = 'BeGreaterThan')] [Alias('GT')] [switch] $BeGreaterThan,
        [Parameter(Mandatory, ParameterSetName = 'BeLessThan')] [Alias('LT')] [switch] $BeLessThan,
        [Parameter(Mandatory, ParameterSetName = 'BeGreaterOrEqual')] [Alias('GE')] [switch] $BeGreaterOrEqual,
        [Parameter(Mandatory, ParameterSetName = 'BeLessOrEqual')] [Alias('LE')] [switch] $BeLessOrEqual,
        [Parameter(Mandatory, ParameterSetName = 'BeLike')] [switch] $BeLike,
        [Parameter(Mandatory, ParameterSetName = 'BeLikeExactly')] [switch] $BeLikeExactly,
        [Parameter(Mandatory, ParameterSetName = 'Match')] [switch] $Match,
        [Parameter(Mandatory, ParameterSetName = 'MatchExactly')] [Alias('CMATCH')] [switch] $MatchExactly,
        [Parameter(Mandatory, ParameterSetName = 'Contain')] [switch] $Contain,
        [Parameter(Mandatory, ParameterSetName = 'BeIn')] [switch] $BeIn,
        [Parameter(Mandatory, ParameterSetName = 'HaveCount')] [switch] $HaveCount,
        [Parameter(Mandatory, ParameterSetName = 'BeOfType')] [Alias('HaveType')] [switch] $BeOfType,
        [Parameter(Mandatory, ParameterSetName = 'Throw')] [switch] $Throw,
        [Parameter(Mandatory, ParameterSetName = 'Exist')] [switch] $Exist,
        [Parameter(Mandatory, ParameterSetName = 'FileContentMatch')] [switch] $FileContentMatch,

        [Parameter(ParameterSetName = 'Be', Position = 0)]
        [Parameter(ParameterSetName = 'BeExactly', Position = 0)]
        [Parameter(ParameterSetName = 'BeGreaterThan', Position = 0)]
        [Parameter(ParameterSetName = 'BeLessThan', Position = 0)]
        [Parameter(ParameterSetName = 'BeGreaterOrEqual', Position = 0)]
        [Parameter(ParameterSetName = 'BeLessOrEqual', Position = 0)]
        [Parameter(ParameterSetName = 'BeLike', Position = 0)]
        [Parameter(ParameterSetName = 'BeLikeExactly', Position = 0)]
        [Parameter(ParameterSetName = 'Contain', Position = 0)]
        [Parameter(ParameterSetName = 'BeIn', Position = 0)]
        [Parameter(ParameterSetName = 'HaveCount', Position = 0)]
        [AllowNull()] [AllowEmptyCollection()] [object] $ExpectedValue,

        [Parameter(ParameterSetName = 'Match', Position = 0)]
        [Parameter(ParameterSetName = 'MatchExactly', Position = 0)]
        [string] $RegularExpression,

        [Parameter(ParameterSetName = 'BeOfType', Position = 0)] [object] $ExpectedType,

        [Parameter(ParameterSetName = 'FileContentMatch', Position = 0)] [string] $ExpectedContent,

        [Parameter(ParameterSetName = 'Throw', Position = 0)] [string] $ExpectedMessage,
        [Parameter(ParameterSetName = 'Throw')] [string] $ErrorId,
        [Parameter(ParameterSetName = 'Throw')] [type] $ExceptionType,
        [Parameter(ParameterSetName = 'Throw')] [switch] $PassThru
    )

    begin { $inputs = [System.Collections.Generic.List[object]]::new() }
    process { $inputs.Add($ActualValue) }
    end {
        $operator = $PSCmdlet.ParameterSetName
        if ($operator -eq 'None') { throw 'Should needs an operator, such as -Be or -Throw.' }
        $parameters = @{
            Because           = $Because
            ExpectedValue     = $ExpectedValue
            RegularExpression = $RegularExpression
            ExpectedType      = $ExpectedType
            ExpectedContent   = $ExpectedContent
            ExpectedMessage   = $ExpectedMessage
            ErrorId           = $ErrorId
            ExceptionType     = $ExceptionType
        }
        # Like Pester: no input tests $null once; collection operators get all input as one array; others test each item.
        $values = if ($inputs.Count -eq 0) { , @(, $null) }
        elseif ($operator -in 'Be', 'BeExactly', 'BeNullOrEmpty', 'Contain', 'HaveCount') { , @(, $inputs.ToArray()) }
        else { , $inputs.ToArray() }

        foreach ($value in $values) {
            $record = $null
            if ($operator -eq 'Throw') {
                $outcome = Test-ShimThrow $value $Not.IsPresent $parameters
                $message = $outcome.Message
                $record = $outcome.Record
            }
            else {
                $message = Test-ShimAssertion $operator $value $Not.IsPresent $parameters
            }
            if ($null -ne $message) {
                $target = @{ Message = $message; File = $MyInvocation.ScriptName; Line = $MyInvocation.ScriptLineNumber; LineText = $MyInvocation.Line }
                throw [System.Management.Automation.ErrorRecord]::new([System.Exception]::new($message), $script:AssertionFqid, 'InvalidResult', $target)
            }
            if ($PassThru -and $null -ne $record) { $record }
        }
    }
}

#endregion

#region stream polyfills

# The engine package ships without Microsoft.PowerShell.Utility, so the Write-* cmdlets tests rely on are missing.
# These stand-ins write to the same streams; they are only exported when the real cmdlets are absent.

function Write-Host {
    [CmdletBinding()]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromRemainingArguments)] [object] $Object,
        [switch] $NoNewline,
        [object] $Separator = ' ',
        [System.ConsoleColor] $ForegroundColor,
        [System.ConsoleColor] $BackgroundColor
    )
    process {
        $text = (@(foreach ($o in @($Object)) { "$o" }) -join $Separator)
        $message = [System.Management.Automation.HostInformationMessage]@{ Message = $text; NoNewLine = $NoNewline.IsPresent }
        $PSCmdlet.WriteInformation($message, [string[]]@('PSHOST'))
    }
}

function Write-Information {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] [AllowNull()] [object] $MessageData, [Parameter(Position = 1)] [string[]] $Tags)
    $PSCmdlet.WriteInformation($MessageData, $Tags)
}

function Write-Warning {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [AllowEmptyString()] [string] $Message)
    process { $PSCmdlet.WriteWarning($Message) }
}

function Write-Verbose {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [AllowEmptyString()] [string] $Message)
    process { $PSCmdlet.WriteVerbose($Message) }
}

function Write-Debug {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [AllowEmptyString()] [string] $Message)
    process { $PSCmdlet.WriteDebug($Message) }
}

function Write-Error {
    [CmdletBinding(DefaultParameterSetName = 'Message')]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Message', ValueFromPipeline)] [AllowEmptyString()] [string] $Message,
        [Parameter(Mandatory, ParameterSetName = 'Exception')] [System.Exception] $Exception,
        [Parameter(Mandatory, ParameterSetName = 'ErrorRecord')] [System.Management.Automation.ErrorRecord] $ErrorRecord,
        [Parameter(ParameterSetName = 'Message')] [Parameter(ParameterSetName = 'Exception')] [string] $ErrorId = 'Microsoft.PowerShell.Commands.WriteErrorException',
        [Parameter(ParameterSetName = 'Message')] [Parameter(ParameterSetName = 'Exception')] [System.Management.Automation.ErrorCategory] $Category = 'NotSpecified',
        [Parameter(ParameterSetName = 'Message')] [Parameter(ParameterSetName = 'Exception')] [object] $TargetObject
    )
    process {
        $record = switch ($PSCmdlet.ParameterSetName) {
            'ErrorRecord' { $ErrorRecord }
            'Exception' { [System.Management.Automation.ErrorRecord]::new($Exception, $ErrorId, $Category, $TargetObject) }
            default { [System.Management.Automation.ErrorRecord]::new([System.Exception]::new($Message), $ErrorId, $Category, $TargetObject) }
        }
        $PSCmdlet.WriteError($record)
    }
}

#endregion

$exports = @(
    'Describe', 'Context', 'It', 'BeforeAll', 'AfterAll', 'BeforeEach', 'AfterEach', 'BeforeDiscovery',
    'Set-ItResult', 'Should', 'Invoke-PesterShimFile'
)
foreach ($polyfill in 'Write-Host', 'Write-Information', 'Write-Warning', 'Write-Verbose', 'Write-Debug', 'Write-Error') {
    if (-not (Get-Command -Name $polyfill -CommandType Cmdlet -ErrorAction Ignore)) { $exports += $polyfill }
}
Export-ModuleMember -Function $exports
