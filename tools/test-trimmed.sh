#!/bin/bash
# test-trimmed.sh [tools/test.sh arguments] -- the test suite with every agent process the tests
# start being the trimmed self-contained release (the build tools/package.sh ships), published
# into artifacts/trimmed/linux-x64 first: trimming removes code nobody is seen to call, and what
# Akka.NET, linq2db or the agent reach by reflection only shows at run time. Run by hand before
# resolving work that changes what the agent loads; with GUESTAGENT_LONG_TESTS=1 (or through
# tools/test-long.sh's variables) the longer mode. Ends with the same totals line as tools/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/artifacts/trimmed/linux-x64"
echo "test-trimmed.sh: publishing the trimmed agent into $OUT" >&2
rm -rf "$OUT"
dotnet publish "$ROOT/src/GuestAgent.Agent" -nologo -v:q -c Release -r linux-x64 --self-contained true \
    -p:PublishTrimmed=true -p:DebugType=none -o "$OUT" >&2
export GUESTAGENT_AGENT_EXECUTABLE="$OUT/guest-agent"
exec "$ROOT/tools/test.sh" "$@"
