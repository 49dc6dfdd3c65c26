#!/usr/bin/env pwsh
# Entry points for people and schedulers. Usage:
#   dotnet pwsh ./run.ps1                  # the embedded default run (same as `spark-eval run`)
#   dotnet pwsh ./run.ps1 -Mode nightly    # regression gate: fixed seed, thresholds, exit 1 on breach
#   dotnet pwsh ./run.ps1 --backend "sim?ttft_ms=90" --repeats 5   # other arguments go to `spark-eval run`
param(
    [ValidateSet('default', 'nightly')]
    [string] $Mode = 'default',
    [string] $FailIf = 'ttft_p99_ms>800,error_rate>0.02'
)
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

$runArgs = @('run')
if ($Mode -eq 'nightly') {
    $runArgs += @('--seed', '20261124', '--repeats', '3', '--fail-if', $FailIf)
}
$runArgs += $args

& dotnet run --project src/Eval.Cli -c Release -- @runArgs
exit $LASTEXITCODE
