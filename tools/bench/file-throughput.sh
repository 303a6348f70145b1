#!/bin/bash
# file-throughput.sh [MIB] [RUNS] -- file transfer throughput of one agent on the local bed
# (Debian's zaqar-server, single process, on Redis): put and get through the queue, the URL
# mode both ways (an HTTP server in the bench process on 127.0.0.1), and the raw Zaqar payload
# rate in the same run for comparison. Not part of the test suite.
# ZAQAR_SERVER=uwsgi runs Zaqar under uwsgi with 4 workers instead (as bench.sh's file workload):
# the single-process server accepts 5 pending connections, and a put's many (the controller's
# reply polls, the chunk posts, the agent's claims and replies) overflow that; each dropped
# connection waits out TCP's 1 s SYN retransmit (`nstat TcpExtListenDrops`).
#   tools/bench/file-throughput.sh 64 3
#   ZAQAR_SERVER=uwsgi tools/bench/file-throughput.sh 64 3
# BENCH_PUT_WINDOW=N: chunks in flight, for the put and the raw rate alike (default: the SDK's, 16;
# 8 on the single-process server); BENCH_AGENT_HOCON: lines added to the agent's guest-agent block;
# BENCH_BED_OPTS: more options to tools/zaqar/start.sh for the uwsgi bed (--log-requests, say);
# BENCH_KEEP_LOG=FILE: the agent's log is copied there at the end (BENCH_AGENT_LOG sets its level);
# BENCH_REPLY_POLL_MS=N: the controller polls its reply queue from N ms up (the SDK's
# MinPollInterval; default 25).
# Beside the raw rate, the put's own request pattern without an agent (each chunk in the window
# until its reply is read), and the whole machine's CPU per MiB and idle share during the raw
# rate, that pattern and the put: a put with the machine idle waited, it was not short of CPU.
# The agent is a JIT build of the tree unless AGENT=PATH names another executable (the release, say);
# AGENT_ENV="VAR=value ..." is given to the agent alone. The agent's and the controller's CPU per MiB
# during put and get are printed after the rates.
#   AGENT=/tmp/rel/guest-agent ZAQAR_SERVER=uwsgi tools/bench/file-throughput.sh 64 3
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MIB="${1:-64}"; RUNS="${2:-3}"
RUN="$(mktemp -d /tmp/ga-bench.XXXXXX)"; chmod 755 "$RUN"
cleanup() { [[ -n "${BENCH_KEEP_LOG:-}" ]] && cp "$RUN/agent.log" "$BENCH_KEEP_LOG"; [[ -f "$RUN/agent.pid" ]] && kill "$(cat "$RUN/agent.pid")" 2>/dev/null; "$ROOT/tools/zaqar/stop.sh" "$RUN/bed"; rm -rf "$RUN/root"; }
trap cleanup EXIT
AGENT="${AGENT:-}"
if [[ -z "$AGENT" ]]; then
    dotnet build -nologo -v q -c Release "$ROOT/src/GuestAgent.Agent" -o "$RUN/agent-bin" >/dev/null
    AGENT="$RUN/agent-bin/guest-agent"
fi
dotnet build -nologo -v q -c Release "$ROOT/tools/bench/GuestAgent.Bench" -o "$RUN/bench-bin" >/dev/null
if [[ "${ZAQAR_SERVER:-}" == uwsgi ]]; then
    "$ROOT/tools/zaqar/install.sh" --uwsgi >/dev/null
    "$ROOT/tools/zaqar/start.sh" --no-install --server uwsgi --workers 4 ${BENCH_BED_OPTS:-} --dir "$RUN/bed" >/dev/null
else
    "$ROOT/tools/zaqar/start.sh" --dir "$RUN/bed" >/dev/null
fi
set -a; source "$RUN/bed/env"; set +a
# The single-process server, reached over one connection (BENCH_ZAQAR_CONNECTIONS, the bench's
# default of 1), broke a POST of the raw rate's 16 queued ones in two runs of two ("error while
# copying content"): it runs at the window of 8 it ran at before the SDK's default became 16.
[[ "${ZAQAR_SERVER:-}" == uwsgi ]] || export BENCH_PUT_WINDOW="${BENCH_PUT_WINDOW:-8}"
HTTP_PORT="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$RUN/root"
cat > "$RUN/agent.conf" <<CONF
guest-agent {
  state-dir = "$RUN/state"
  log.file = false
  zaqar-connections = $([[ "${ZAQAR_SERVER:-}" == uwsgi ]] && echo 64 || echo 1)
  log.level = ${BENCH_AGENT_LOG:-Warning}
  tenants.bench {
    endpoint = "$ZAQAR_URL", project = bench, command-queue = bench-cmd, reply-queue = bench-rep
    file-roots = ["$RUN/root"]
    http-destinations = ["127.0.0.1:$HTTP_PORT"]
    # The bench client does not sign (a throw-away loopback bed): unsigned commands are allowed explicitly.
    signing.allow-unsigned = true
  }
  ${BENCH_AGENT_HOCON:-}
}
CONF
env ${AGENT_ENV:-} "$AGENT" --config "$RUN/agent.conf" >"$RUN/agent.log" 2>&1 &
echo $! > "$RUN/agent.pid"
BENCH_AGENT_PIDFILE="$RUN/agent.pid" ZAQAR_PROJECT=bench GUESTAGENT_QUEUE=bench-cmd BENCH_FILE_ROOT="$RUN/root" BENCH_HTTP_PORT="$HTTP_PORT" \
    "$RUN/bench-bin/GuestAgent.Bench" file-throughput "$MIB" "$RUNS"
echo "agent: $AGENT${AGENT_ENV:+ ($AGENT_ENV)}; settings: defaults; zaqar: ${ZAQAR_SERVER:-wsgiref zaqar-server, 1 process}; machine: $(nproc) cores"
