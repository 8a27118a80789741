<#
.SYNOPSIS
    Runs wirecheck quietly for the scheduled task (wirecheck-task.xml) and logs the verdict.

.DESCRIPTION
    Finds wirecheck (wirecheck.exe installed with pip, or wirecheck.pyz beside this script run
    by the py launcher or python.exe), runs `wirecheck run --quiet`, and:
      - writes the one-line verdict with its exit code to the Application event log
        (source "wirecheck"; event id 1000 + exit code; Information/Warning/Error) and to
        <OutputDir>\wirecheck.log;
      - writes the text, JSON and HTML reports to <OutputDir>;
      - writes the Prometheus textfile to <PrometheusDir> when that directory exists
        (windows_exporter's textfile collector).
    Exits with wirecheck's exit code: 0 ok, 1 warn, 2 fail, 3 could not run.

.PARAMETER Register
    Register (or replace) the scheduled task from wirecheck-task.xml beside this script.
#>
[CmdletBinding()]
param(
    [switch]$Register,
    [string]$OutputDir = (Join-Path $env:ProgramData 'wirecheck'),
    [string]$PrometheusDir = (Join-Path $env:ProgramFiles 'windows_exporter\textfile_inputs'),
    [ValidateRange(1, 300)][int]$TimeoutSeconds = 10
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$here = Split-Path -Parent $MyInvocation.MyCommand.Path

function Write-Verdict([string]$Line, [int]$Code) {
    New-Item -ItemType Directory -Force -Path $OutputDir | Out-Null
    $stamp = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
    Add-Content -Path (Join-Path $OutputDir 'wirecheck.log') -Value "$stamp $Line (exit $Code)"
    $entryType = switch ($Code) { 0 { 'Information' } 1 { 'Warning' } default { 'Error' } }
    try {
        if (-not [System.Diagnostics.EventLog]::SourceExists('wirecheck')) {
            New-EventLog -LogName Application -Source 'wirecheck'
        }
        Write-EventLog -LogName Application -Source 'wirecheck' -EventId (1000 + $Code) `
            -EntryType $entryType -Message "$Line (exit $Code)"
    } catch {
        # The log file above still holds the verdict; say why the event log did not.
        Add-Content -Path (Join-Path $OutputDir 'wirecheck.log') -Value "event log: $($_.Exception.Message)"
    }
    Write-Output "$Line (exit $Code)"
}

if ($Register) {
    $xml = Get-Content -Raw -Path (Join-Path $here 'wirecheck-task.xml')
    Register-ScheduledTask -TaskName 'wirecheck' -Xml $xml -Force | Out-Null
    Write-Output 'wirecheck: scheduled task "wirecheck" registered'
    exit 0
}

$command = $null
$prefix = @()
$installed = Get-Command 'wirecheck.exe' -ErrorAction SilentlyContinue
$pyz = Join-Path $here 'wirecheck.pyz'
if ($installed) {
    $command = $installed.Source
} elseif (Test-Path -LiteralPath $pyz) {
    $launcher = Get-Command 'py.exe' -ErrorAction SilentlyContinue
    $python = Get-Command 'python.exe' -ErrorAction SilentlyContinue
    if ($launcher) { $command = $launcher.Source; $prefix = @('-3', $pyz) }
    elseif ($python) { $command = $python.Source; $prefix = @($pyz) }
}
if (-not $command) {
    Write-Verdict 'wirecheck: UNKNOWN - not installed (pip install wirecheck, or wirecheck.pyz and Python 3.11+ beside this script)' 3
    exit 3
}

$arguments = @('run', '--quiet', '--timeout', $TimeoutSeconds, '--output-dir', $OutputDir)
if (Test-Path -LiteralPath $PrometheusDir -PathType Container) {
    $arguments += @('--format', 'prometheus', '--prometheus-dir', $PrometheusDir)
}
# A native command's stderr must not become a terminating error: it carries the reason
# when wirecheck cannot run (exit 3).
$ErrorActionPreference = 'Continue'
$output = & $command @prefix @arguments 2>&1 | ForEach-Object { "$_" }
$code = $LASTEXITCODE
$ErrorActionPreference = 'Stop'
$line = (($output | Where-Object { $_ -match '\S' }) -join ' ').Trim()
if (-not $line) { $line = 'wirecheck: UNKNOWN - no output' }
Write-Verdict $line $code
exit $code
