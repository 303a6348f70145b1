#!/bin/bash
# zaqar-calls.sh [CALLS] [LEVELS] [extra agent HOCON] -- exec true over Zaqar through a real agent on
# a uwsgi Zaqar bed (4 workers) with Zaqar's WebSocket server beside it: sequential call latency
# beside the raw floor (and the push floor), then calls/s at each level of concurrent callers beside
# the raw cycle rate. The agent's binding and the bench's controller use push unless PUSH=0 (then
# both poll, on the same bed). Not part of the test suite; a quick loop for work on the Zaqar call
# path (bench.sh runs the same workloads beside the peers).
#   tools/bench/zaqar-calls.sh 200 1,8,32
#   PUSH=0 tools/bench/zaqar-calls.sh 200 32
#   CONTROLLER_PUSH=0 tools/bench/zaqar-calls.sh 200 32    # push to the agent only, the controller polls
#   AGENT_PUSH=0 tools/bench/zaqar-calls.sh 200 32         # push to the controller only, the agent polls
#   TP_RUNS=3 TP_SECONDS=8 tools/bench/zaqar-calls.sh 100 32   # throughput runs per level (default 2) and window (default 3 s)
#   LOG_REQUESTS=1 tools/bench/zaqar-calls.sh 100 32     # and count the agent's and controllers' Zaqar requests
#   BENCH_OP=ping tools/bench/zaqar-calls.sh 200 32      # ping instead of exec true: no process starts
# The agent is a JIT build of the tree unless AGENT=PATH names another executable (the release, say);
# AGENT_ENV="VAR=value ..." is given to the agent alone.
#   AGENT=/tmp/rel/guest-agent AGENT_ENV=DOTNET_TieredCompilation=0 tools/bench/zaqar-calls.sh 200 1,8,32
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CALLS="${1:-200}"; LEVELS="${2:-1,8,32}"; EXTRA="${3:-}"; PUSH="${PUSH:-1}"
RUN="$(mktemp -d /tmp/ga-bench.XXXXXX)"; chmod 755 "$RUN"
cleanup() {
    if [[ -f "$RUN/agent.pid" ]] && tr '\0' ' ' < "/proc/$(cat "$RUN/agent.pid")/cmdline" 2>/dev/null | grep -q guest-agent; then
        kill "$(cat "$RUN/agent.pid")"
    fi
    "$ROOT/tools/zaqar/stop.sh" "$RUN/bed" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$ROOT/tools/zaqar/start.sh" --websocket --server uwsgi --workers 4 ${LOG_REQUESTS:+--log-requests} --dir "$RUN/bed" >"$RUN/bed.log" 2>&1 &
START=$!
AGENT="${AGENT:-}"
if [[ -z "$AGENT" ]]; then
    dotnet build -nologo -v q -c Release "$ROOT/src/GuestAgent.Agent" -o "$RUN/agent-bin" >/dev/null
    AGENT="$RUN/agent-bin/guest-agent"
fi
dotnet build -nologo -v q -c Release "$ROOT/tools/bench/GuestAgent.Bench" -o "$RUN/bench-bin" >/dev/null
wait "$START" || { cat "$RUN/bed.log" >&2; exit 1; }
set -a; source "$RUN/bed/env"; set +a
PB=""
if [[ "$PUSH" != 1 ]]; then
    unset ZAQAR_WS_URL   # the bench's controller polls too
elif [[ "${AGENT_PUSH:-1}" == 1 ]]; then
    PB=", push { websocket = \"$ZAQAR_WS_URL\" }"
fi   # AGENT_PUSH=0: the agent polls, the bench's controller is pushed to
# CONTROLLER_PUSH=0: the bench's controller polls for its replies while the agent is pushed to.
[[ "${CONTROLLER_PUSH:-1}" == 1 ]] || unset ZAQAR_WS_URL
cat > "$RUN/agent.conf" <<CONF
guest-agent {
  state-dir = "$RUN/state"
  log.file = false
  log.level = Warning
  zaqar-connections = 16
  $EXTRA
  # The bench client does not sign (a throw-away loopback bed): unsigned commands are allowed explicitly.
  tenants.bench { endpoint = "$ZAQAR_URL", project = bench, command-queue = bench-cmd, reply-queue = bench-rep,
                  signing.allow-unsigned = true $PB }
}
CONF
env ${AGENT_ENV:-} "$AGENT" --config "$RUN/agent.conf" >"$RUN/agent.log" 2>&1 &
echo $! > "$RUN/agent.pid"
export ZAQAR_PROJECT=bench GUESTAGENT_QUEUE=bench-cmd BENCH_BED="uwsgi, 4 processes" BENCH_ZAQAR_CONNECTIONS=8 BENCH_AGENT_PIDFILE="$RUN/agent.pid"
"$RUN/bench-bin/GuestAgent.Bench" call-latency "$CALLS" 1
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d %d", ($14+$15)*1000/hz, ($16+$17)*1000/hz}' "/proc/$(cat "$RUN/agent.pid")/stat"; }
read -r OWN0 RUNS0 <<<"$(cpu)"
"$RUN/bench-bin/GuestAgent.Bench" throughput "${TP_SECONDS:-3}" "${TP_RUNS:-2}" "$LEVELS" 2>&1 | tee "$RUN/throughput.txt"
read -r OWN1 RUNS1 <<<"$(cpu)"
CALLS_MADE=$(sed -n 's|.*guest-agent: calls/s, [0-9]* callers = \([0-9.]*\) /s.*|\1|p' "$RUN/throughput.txt" | awk -v s="${TP_SECONDS:-3}" '{n += $1 * s} END {printf "%d", n}')
echo "agent CPU per call during the throughput runs: $(( OWN1 - OWN0 )) ms own, $(( RUNS1 - RUNS0 )) ms in its runs' processes, over $CALLS_MADE calls:" \
     "$(awk -v a=$(( OWN1 - OWN0 )) -v r=$(( RUNS1 - RUNS0 )) -v n="$CALLS_MADE" 'BEGIN {printf "%.2f ms own + %.2f ms runs per call", a/n, r/n}')"
if [[ -n "${LOG_REQUESTS:-}" ]]; then
    # Zaqar requests of the whole run on the agent's command queue and the controllers' reply queues, by kind.
    echo "Zaqar requests (the whole run, every phase), by queue and kind:"
    grep -oE '(GET|POST|DELETE|PATCH|PUT) /v2/queues/(bench-cmd|bench-rep|bench-tp-replies-[0-9a-f]+|bench-lat[^/ ]*)/[a-z]+[^ ]*' "$RUN/bed/zaqar.log" |
        sed -E 's/bench-tp-replies-[0-9a-f]+/bench-tp-replies/; s/(claims|messages)\/[0-9a-f-]+/\1\/ID/; s/\?.*//' | sort | uniq -c | sort -rn
fi
echo "agent: $AGENT${AGENT_ENV:+ ($AGENT_ENV)}; settings: defaults + zaqar-connections = 16${EXTRA:+ + $EXTRA}; push: $([[ -n "$PB" ]] && echo on || echo off)," \
     "controller: $([[ -n "${ZAQAR_WS_URL:-}" ]] && echo push || echo polling); machine: $(nproc) cores"
