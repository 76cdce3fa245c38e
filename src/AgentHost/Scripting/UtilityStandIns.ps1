# Stand-ins for the few Microsoft.PowerShell.Utility commands that scripts use most, for `jp1dist run`
# on a computer without pwsh: the hosted engine (System.Management.Automation) has only the Core module.
# Under pwsh the real cmdlets exist and these are never defined.

function Write-Host {
    [CmdletBinding()]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromRemainingArguments)] [object[]] $Object,
        [switch] $NoNewline,
        [object] $Separator = ' ',
        [ConsoleColor] $ForegroundColor,
        [ConsoleColor] $BackgroundColor
    )
    process {
        $text = ($Object | ForEach-Object { "$_" }) -join $Separator
        if ($NoNewline) { $Host.UI.Write($text) } else { $Host.UI.WriteLine($text) }
    }
}

function Write-Warning {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [string] $Message)
    process { $PSCmdlet.WriteWarning($Message) }
}

function Write-Verbose {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [string] $Message)
    process { $PSCmdlet.WriteVerbose($Message) }
}

function Write-Debug {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0, ValueFromPipeline)] [string] $Message)
    process { $PSCmdlet.WriteDebug($Message) }
}

function Write-Information {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)] [object] $MessageData, [string[]] $Tags)
    $PSCmdlet.WriteInformation($MessageData, $Tags)
}

function Start-Sleep {
    [CmdletBinding(DefaultParameterSetName = 'Seconds')]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Seconds')] [double] $Seconds,
        [Parameter(Mandatory, ParameterSetName = 'Milliseconds')] [Alias('ms')] [int] $Milliseconds
    )
    $span = if ($PSCmdlet.ParameterSetName -eq 'Seconds') { [TimeSpan]::FromSeconds($Seconds) } else { [TimeSpan]::FromMilliseconds($Milliseconds) }
    [Threading.Thread]::Sleep($span)
}

function Get-Date {
    [CmdletBinding()]
    param([Parameter(Position = 0)] [datetime] $Date = [datetime]::Now)
    $Date
}
