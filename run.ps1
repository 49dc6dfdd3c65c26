#!/usr/bin/env pwsh
# Entry points for people and schedulers. Usage:
#   dotnet pwsh ./run.ps1                  # the embedded default run (same as `spark-eval run`)
#   dotnet pwsh ./run.ps1 -Mode nightly    # regression gate: fixed seed, thresholds, then `spark-eval compare`
#                                          # against the previous nightly run; exit 1 on a breach or a regression
#   dotnet pwsh ./run.ps1 -Mode procurement  # `spark-eval procure` on hw-profiles/procure-example.json → results/procurement/
#                                          # (procurement.html, .md, .csv, .json); other arguments go to procure (e.g. --price wse-3=20)
#   dotnet pwsh ./run.ps1 --backend "sim?ttft_ms=90" --repeats 5   # other arguments go to `spark-eval run`
param(
    [ValidateSet('default', 'nightly', 'procurement')]
    [string] $Mode = 'default',
    [string] $FailIf = 'ttft_p99_ms>800,error_rate>0.02',
    # Nightly: compare with this run directory instead of the newest earlier results/nightly-* run.
    [string] $Baseline = ''
)
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

if ($Mode -eq 'procurement') {
    & dotnet run --project src/Eval.Cli -c Release -- procure hw-profiles/procure-example.json --out (Join-Path 'results' 'procurement') @args
    exit $LASTEXITCODE
}

$runArgs = @('run')
$outDir = $null
if ($Mode -eq 'nightly') {
    $outDir = Join-Path 'results' ('nightly-' + [DateTime]::UtcNow.ToString('yyyyMMdd-HHmmss'))
    $runArgs += @('--seed', '20261124', '--repeats', '3', '--fail-if', $FailIf, '--out', $outDir, '--junit', (Join-Path 'results' ((Split-Path $outDir -Leaf) + '.run.junit.xml')))
}
$runArgs += $args

& dotnet run --project src/Eval.Cli -c Release -- @runArgs
$runExit = $LASTEXITCODE
if ($Mode -ne 'nightly' -or $runExit -eq 2 -or $runExit -eq 130) {
    exit $runExit
}

if ($Baseline -eq '') {
    $previous = Get-ChildItem -Directory -Path 'results' -Filter 'nightly-*' |
        Where-Object { $_.Name -lt (Split-Path $outDir -Leaf) -and (Test-Path (Join-Path $_.FullName 'manifest.json')) } |
        Sort-Object Name | Select-Object -Last 1
    if ($null -ne $previous) { $Baseline = $previous.FullName }
}
if ($Baseline -eq '') {
    Write-Host "nightly: no earlier nightly run to compare with; $outDir becomes the baseline"
    exit $runExit
}

& dotnet run --project src/Eval.Cli -c Release --no-build -- compare $Baseline $outDir --out (Join-Path $outDir 'compare.md') --junit (Join-Path $outDir 'compare.junit.xml')
$compareExit = $LASTEXITCODE
if ($runExit -ne 0) { exit $runExit }
exit $compareExit
