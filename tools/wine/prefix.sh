#!/bin/bash
# prefix.sh DIR -- create a private, headless Wine prefix in DIR for running win-x64 .NET builds
# (~13 s, ~690 MB: keep it out of the repository, delete it afterwards). Reuses DIR when it is complete.
#   - Windows 10 (Wine reports Windows 7 by default);
#   - no crash debugger: with the default (winedbg --auto) a crashing child whose stdio is
#     redirected hangs forever; without it the process just exits 0xE0434352;
#   - no Mono/Gecko install prompts; no display needed;
#   - CoreCLR's W^X off for every process of the prefix (services too): with it, .NET 10 under
#     Debian's Wine 8.0 on a 6.18 kernel dies soon after start with "Internal CLR error
#     (0x80131506)" in DynamicResolver.DestroyScout.Finalize.
set -euo pipefail
DIR="${1:?usage: prefix.sh DIR}"
mkdir -p "$DIR"
export WINEPREFIX="$(cd "$DIR" && pwd)" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY
[[ -f "$WINEPREFIX/.guest-agent-prefix" ]] && exit 0
wineboot -i >/dev/null 2>&1
winecfg -v win10 >/dev/null 2>&1
wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' /v Debugger /d '' /f >/dev/null 2>&1
wine reg add 'HKCU\Software\Wine\WineDbg' /v ShowCrashDialog /t REG_DWORD /d 0 /f >/dev/null 2>&1
wine reg add 'HKLM\System\CurrentControlSet\Control\Session Manager\Environment' /v DOTNET_EnableWriteXorExecute /d 0 /f >/dev/null 2>&1
wineserver -w
touch "$WINEPREFIX/.guest-agent-prefix"
