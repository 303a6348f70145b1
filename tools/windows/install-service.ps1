<#
.SYNOPSIS
  Installs (or removes) guest-agent as a Windows service. Run as Administrator from the unpacked
  release (guest-agent.exe beside this script).

.DESCRIPTION
  - copies the release to $InstallDir (default C:\Program Files\guest-agent);
  - puts the configuration in $ConfigDir (default C:\ProgramData\guest-agent\guest-agent.conf),
    from windows-single-tenant.conf when there is none yet (an existing one is kept);
  - makes the state directory ($StateDir, default C:\ProgramData\guest-agent\state) readable by
    SYSTEM and Administrators only (keys, journal and spooled output are there; the agent's files
    inherit this ACL);
  - registers the service "guest-agent" with sc.exe (automatic start, LocalSystem, restart on
    failure), and starts it. Stopping the service is a graceful stop: no new claims, running
    operations get shutdown-grace to finish; exec runs still going then end with the agent (on
    Windows a run cannot outlive it) and are interrupted, then failed or rerun as their on_interrupt says.

  -Uninstall stops and deletes the service and removes $InstallDir; configuration and state stay.
#>
param(
    [string]$InstallDir = "$env:ProgramFiles\guest-agent",
    [string]$ConfigDir = "$env:ProgramData\guest-agent",
    [string]$StateDir = "$env:ProgramData\guest-agent\state",
    [switch]$Uninstall
)
$ErrorActionPreference = 'Stop'
$service = 'guest-agent'
$here = Split-Path -Parent $MyInvocation.MyCommand.Path

function Invoke-Sc([string[]]$arguments) {
    & sc.exe @arguments | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "sc.exe $($arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

if (Get-Service -Name $service -ErrorAction SilentlyContinue) {
    Stop-Service -Name $service -ErrorAction SilentlyContinue
    Invoke-Sc @('delete', $service)
}
if ($Uninstall) {
    if (Test-Path $InstallDir) { Remove-Item -Recurse -Force $InstallDir }
    Write-Host "guest-agent removed; configuration in $ConfigDir and state in $StateDir were kept"
    return
}

New-Item -ItemType Directory -Force -Path $InstallDir, $ConfigDir, $StateDir | Out-Null
Copy-Item -Recurse -Force -Path (Join-Path $here '*') -Destination $InstallDir
$config = Join-Path $ConfigDir 'guest-agent.conf'
if (-not (Test-Path $config)) {
    Copy-Item (Join-Path $here 'windows-single-tenant.conf') $config
    Write-Host "edit $config (endpoint, project, queues, signing key), then: Restart-Service guest-agent"
}
# Only SYSTEM (the service's account) and Administrators: no inherited access to keys and the journal.
& icacls.exe $StateDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls on $StateDir failed with exit code $LASTEXITCODE" }

$exe = Join-Path $InstallDir 'guest-agent.exe'
& $exe --check-config --config $config
if ($LASTEXITCODE -ne 0) { throw "the configuration $config is not valid (see above); the service was not installed" }

Invoke-Sc @('create', $service, "binPath=", "`"$exe`" --config `"$config`"", 'start=', 'auto', 'obj=', 'LocalSystem',
    'DisplayName=', 'GuestAgent')
Invoke-Sc @('description', $service, 'Runs the commands of the cloud tenant that owns this VM (Zaqar or AMQP queues).')
Invoke-Sc @('failure', $service, 'reset=', '86400', 'actions=', 'restart/5000/restart/5000/restart/30000')
Start-Service -Name $service
Write-Host "guest-agent installed in $InstallDir and started"
