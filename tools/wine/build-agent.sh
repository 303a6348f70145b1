#!/bin/bash
# build-agent.sh [OUT] -- the self-contained win-x64 agent (guest-agent.exe and its runtime) in OUT
# (default artifacts/win-x64/guest-agent), for the Wine tests and tools/package.sh. Not single-file:
# Wine 8.0 cannot start a single-file .NET build (it lacks MEM_RESERVE_PLACEHOLDER).
# Incremental: publishes only when OUT is missing or older than a source, project or config file.
# Extra arguments after OUT go to dotnet publish (e.g. -p:Version=1.2.3, which always publishes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/artifacts/win-x64/guest-agent}"
shift || true
stamp="$OUT/.published"
if (( $# == 0 )) && [[ -f "$stamp" && -f "$OUT/guest-agent.exe" ]] \
    && [[ -z "$(find "$ROOT/src" "$ROOT/hocon" "$ROOT/Directory.Build.props" "$ROOT/Directory.Packages.props" \
                -newer "$stamp" \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.conf' \) \
                -not -path '*/obj/*' -not -path '*/bin/*' -print -quit)" ]]; then
    exit 0
fi
echo "wine: publishing the win-x64 agent into $OUT"
rm -rf "$OUT"
dotnet publish "$ROOT/src/GuestAgent.Agent/GuestAgent.Agent.csproj" -nologo -v:q -c Release -r win-x64 --self-contained true \
    -p:DebugType=none -p:GenerateDocumentationFile=false -o "$OUT" "$@"
touch "$stamp"
