#Requires -Version 7.6
<#
.SYNOPSIS
    Build, test and run tasks for JP1Dist, for people with pwsh (everything calls dotnet).

.EXAMPLE
    ./build.ps1            # build the module (out/JP1Dist) and jp1dist (out/jp1dist), then run every test
.EXAMPLE
    ./build.ps1 Build      # build only
.EXAMPLE
    ./build.ps1 Pester     # run tests/Pester with Invoke-Pester (needs the Pester module)
.EXAMPLE
    ./build.ps1 Quickstart # run examples/quickstart.ps1 in this pwsh session
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Pester', 'Quickstart', 'All')]
    [string] $Task = 'All',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Debug'
)

$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

function Invoke-Dotnet {
    & dotnet @args
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($args -join ' ') failed with exit code $LASTEXITCODE." }
}

switch ($Task) {
    'Build' { Invoke-Dotnet build JP1Dist.sln -c $Configuration }
    'Test' { Invoke-Dotnet test JP1Dist.sln -c $Configuration }
    'Pester' {
        Invoke-Dotnet build JP1Dist.sln -c $Configuration
        Invoke-Pester -Path tests/Pester -Output Detailed
    }
    'Quickstart' {
        Invoke-Dotnet build src/AgentHost -c $Configuration
        & ./examples/quickstart.ps1
    }
    'All' {
        Invoke-Dotnet build JP1Dist.sln -c $Configuration
        Invoke-Dotnet test JP1Dist.sln -c $Configuration --no-build
    }
}
