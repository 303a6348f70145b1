#!/bin/bash
# call-latency.sh [CALLS] [extra agent HOCON] -- call round-trip time of `exec true` through a
# real agent on the local Zaqar bed (Debian's zaqar-server, single process), with the raw Zaqar
# transport floor measured in the same run. Not part of the test suite.
#   tools/bench/call-latency.sh 200
#   tools/bench/call-latency.sh 200 'poll { min-interval = 50ms, max-interval = 1s }'
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CALLS="${1:-200}"; EXTRA="${2:-}"
RUN="$(mktemp -d /tmp/ga-bench.XXXXXX)"; chmod 755 "$RUN"
cleanup() { [[ -f "$RUN/agent.pid" ]] && kill "$(cat "$RUN/agent.pid")" 2>/dev/null; "$ROOT/tools/zaqar/stop.sh" "$RUN/bed"; }
trap cleanup EXIT
dotnet build -nologo -v q -c Release "$ROOT/src/GuestAgent.Agent" -o "$RUN/agent-bin" >/dev/null
dotnet build -nologo -v q -c Release "$ROOT/tools/bench/GuestAgent.Bench" -o "$RUN/bench-bin" >/dev/null
"$ROOT/tools/zaqar/start.sh" --dir "$RUN/bed" >/dev/null
set -a; source "$RUN/bed/env"; set +a
cat > "$RUN/agent.conf" <<CONF
guest-agent {
  state-dir = "$RUN/state"
  log.file = false
  zaqar-connections = 1
  log.level = Warning
  # The bench client does not sign (a throw-away loopback bed): unsigned commands are allowed explicitly.
  tenants.bench { endpoint = "$ZAQAR_URL", project = bench, command-queue = bench-cmd, reply-queue = bench-rep, signing.allow-unsigned = true }
  $EXTRA
}
CONF
"$RUN/agent-bin/guest-agent" --config "$RUN/agent.conf" >"$RUN/agent.log" 2>&1 &
echo $! > "$RUN/agent.pid"
ZAQAR_PROJECT=bench GUESTAGENT_QUEUE=bench-cmd "$RUN/bench-bin/GuestAgent.Bench" call-latency "$CALLS"
echo "agent settings: defaults${EXTRA:+ + $EXTRA}; zaqar: wsgiref zaqar-server, 1 process; machine: $(nproc) cores"
