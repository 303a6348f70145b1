#!/bin/bash
# amqp-calls.sh [CALLS] [LEVELS] [extra agent HOCON] -- exec true over AMQP through a real agent on
# a private RabbitMQ bed (tools/rabbitmq): sequential call latency beside the confirmed RabbitMQ
# floor, then calls/s at each level of concurrent callers beside the floor's. Not part of the test
# suite; a quick loop for work on the AMQP path (bench.sh runs the same workloads beside murano-agent).
#   tools/bench/amqp-calls.sh 200 1,8,32
#   tools/bench/amqp-calls.sh 200 32 'max-concurrent-ops = 64'
#   BENCH_OP=ping tools/bench/amqp-calls.sh 200 1,8,32     # ping instead of exec true: no process starts
#   TP_RUNS=3 TP_SECONDS=8 tools/bench/amqp-calls.sh 100 32   # throughput runs per level (default 1) and window (default 3 s)
# The agent is a JIT build of the tree unless AGENT=PATH names another executable (the release, say);
# AGENT_ENV="VAR=value ..." is given to the agent alone.
#   AGENT=/tmp/rel/guest-agent AGENT_ENV=DOTNET_TieredCompilation=0 tools/bench/amqp-calls.sh 200 1,8,32
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CALLS="${1:-200}"; LEVELS="${2:-1,8,32}"; EXTRA="${3:-}"
RUN="$(mktemp -d /tmp/ga-bench.XXXXXX)"; chmod 755 "$RUN"
cleanup() {
    if [[ -f "$RUN/agent.pid" ]] && tr '\0' ' ' < "/proc/$(cat "$RUN/agent.pid")/cmdline" 2>/dev/null | grep -q guest-agent; then
        kill "$(cat "$RUN/agent.pid")"
    fi
    "$ROOT/tools/rabbitmq/stop.sh" "$RUN/rabbitmq" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$ROOT/tools/rabbitmq/start.sh" --dir "$RUN/rabbitmq" >/dev/null &
START=$!
AGENT="${AGENT:-}"
if [[ -z "$AGENT" ]]; then
    dotnet build -nologo -v q -c Release "$ROOT/src/GuestAgent.Agent" -o "$RUN/agent-bin" >/dev/null
    AGENT="$RUN/agent-bin/guest-agent"
fi
dotnet build -nologo -v q -c Release "$ROOT/tools/bench/GuestAgent.Bench" -o "$RUN/bench-bin" >/dev/null
wait "$START"
p="$("$ROOT/tools/rabbitmq/provision.sh" "$RUN/rabbitmq" bench g1)"
pget() { grep "^$1=" <<<"$p" | cut -d= -f2-; }
pget RABBITMQ_PASSWORD > "$RUN/amqp.password"; chmod 600 "$RUN/amqp.password"
set -a; source "$RUN/rabbitmq/env"; set +a
cat > "$RUN/agent.conf" <<CONF
guest-agent {
  state-dir = "$RUN/state"
  log.file = false
  log.level = Warning
  $EXTRA
  tenants {
    b0 { transport = amqp, endpoint = "amqp://127.0.0.1:$RABBITMQ_AMQP_PORT", project = bench, command-queue = commands, reply-queue = replies,
         signing.allow-unsigned = true,
         amqp { user = "$(pget RABBITMQ_USER)", password-file = "$RUN/amqp.password", command-queue = "$(pget COMMAND_QUEUE)",
                reply-exchange = "$(pget REPLY_EXCHANGE)" } }
  }
}
CONF
env ${AGENT_ENV:-} "$AGENT" --config "$RUN/agent.conf" >"$RUN/agent.log" 2>&1 &
echo $! > "$RUN/agent.pid"
export BENCH_TRANSPORT=amqp GUESTAGENT_AMQP_URL="amqp://127.0.0.1:$RABBITMQ_AMQP_PORT/bench" \
    GUESTAGENT_AMQP_USER="$RABBITMQ_ADMIN_USER" GUESTAGENT_AMQP_PASSWORD="$RABBITMQ_ADMIN_PASSWORD" \
    GUESTAGENT_AMQP_PREFIX=ga.g1. GUESTAGENT_QUEUE=commands BENCH_AMQP_REPLY_QUEUE=replies BENCH_BED="RabbitMQ" \
    BENCH_AGENT_PIDFILE="$RUN/agent.pid"
"$RUN/bench-bin/GuestAgent.Bench" call-latency "$CALLS" 1
# The agent's own CPU (utime+stime) and its runs' (cutime+cstime: the processes it started and reaped).
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d %d", ($14+$15)*1000/hz, ($16+$17)*1000/hz}' "/proc/$(cat "$RUN/agent.pid")/stat"; }
read -r OWN0 RUNS0 <<<"$(cpu)"
"$RUN/bench-bin/GuestAgent.Bench" throughput "${TP_SECONDS:-3}" "${TP_RUNS:-1}" "$LEVELS" 2>&1 | tee "$RUN/throughput.txt"
read -r OWN1 RUNS1 <<<"$(cpu)"
# Calls made: calls/s x the window, per level and run (the floor's phases cost the agent nothing).
CALLS_MADE=$(awk -v s="${TP_SECONDS:-3}" '/guest-agent: calls\/s/ {n += $(NF-2) * s} END {printf "%d", n}' "$RUN/throughput.txt")
echo "agent CPU per call during the throughput runs: $(( OWN1 - OWN0 )) ms own, $(( RUNS1 - RUNS0 )) ms in its runs' processes, over $CALLS_MADE calls:" \
     "$(awk -v a=$(( OWN1 - OWN0 )) -v r=$(( RUNS1 - RUNS0 )) -v n="$CALLS_MADE" 'BEGIN {printf "%.2f ms own + %.2f ms runs per call", a/n, r/n}')"
echo "agent: $AGENT${AGENT_ENV:+ ($AGENT_ENV)}; settings: defaults${EXTRA:+ + $EXTRA}; machine: $(nproc) cores"
