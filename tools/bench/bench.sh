#!/bin/bash
# bench.sh [--quick|--full] [--out DIR] -- guest-agent side by side with the agents people use
# instead, all on 127.0.0.1, in one run. Not part of the test suite.
#
#   --quick  (default) every workload with few repetitions, in under 5 minutes with the packages
#            installed: workloads that do not share a bed or a process run at the same time
#            (the peers' load during guest-agent's idle window, recovery during the first calls)
#   --full   the figures for docs/performance.md: more calls, longer windows, minutes of idle;
#            each load runs alone
#   --out    results directory (default artifacts/bench/<UTC time>-<mode>)
#
# It installs what is missing (Debian packages, through tools/zaqar, tools/keystone and
# tools/bench/peers install scripts), builds the agent and GuestAgent.Bench, starts
#   Zaqar 15 four times on Redis: zaqar-server (one process, one request at a time) for the
#     call workloads, uwsgi with 4 worker processes for the same, and two more zaqar-servers
#     for the idle and scale workloads (their access logs give Zaqar requests/s per queue);
#   the same four again with Zaqar's WebSocket server beside each (--websocket, which also runs
#     the notifier on the HTTP server) for the push rows: agents whose bindings subscribe to
#     their command queue over the socket, measured against the raw Zaqar floor of that bed;
#   murano-agent on its own RabbitMQ; qemu-ga on a unix socket; os-collect-config on the
#     keystone bed,
# runs every workload (docs/performance.md lists them), writes raw.jsonl (one line per
# measurement), results.json and table.md into the results directory, and stops everything it
# started, also on failure or Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/bench"
PY=/usr/bin/python3          # Debian's python: the pyenv one on PATH lacks the OpenStack packages
MODE=quick OUT=""
while (( $# )); do
    case "$1" in
        --quick) MODE=quick; shift;;
        --full) MODE=full; shift;;
        --out) OUT="$2"; shift 2;;
        -h|--help) sed -n '2,24p' "$0"; exit 0;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2;;
    esac
done

if [[ "$MODE" == quick ]]; then
    LAT_CALLS=40 LAT_RUNS=3            # sequential calls per run, runs
    TP_SECONDS=2 TP_RUNS=3             # throughput window per level, runs
    IDLE_SETTLE=20 IDLE_SAMPLE=15      # idle agents: ramp-down time, then the measured windows
    FIRST_K=5                          # first-call trials per polling setting (one per binding)
    S200_SETTLE=15 S200_SAMPLE=15      # 200 pollers
    REC_RUNS=1 REC_CASTS=100
    FILE_MIB=16 FILE_RUNS=1
    PEER_CALLS=40 PEER_RUNS=3
    PEER_REC_RUNS=2                    # murano-agent and qemu-ga recovery runs
    OVERLAP=1                          # loads beside idle windows (see the header)
    MAIN_TP=""                         # no throughput on the single-process zaqar-server
    PUSH_IDLE=""                       # push: first calls after the polling agents' idle spell
    PUSH_SAMPLE=60 PUSH_WINDOWS=1      # push idle and 200 bindings: one safety-poll period
    COLD_RUNS=5                        # cold starts (fresh agent, empty state directory)
else
    LAT_CALLS=100 LAT_RUNS=5
    TP_SECONDS=8 TP_RUNS=3
    IDLE_SETTLE=120 IDLE_SAMPLE=60     # 3 minutes idle before the first calls
    FIRST_K=20
    S200_SETTLE=30 S200_SAMPLE=60
    REC_RUNS=3 REC_CASTS=100
    FILE_MIB=64 FILE_RUNS=2
    PEER_CALLS=100 PEER_RUNS=5
    PEER_REC_RUNS=3
    OVERLAP=0
    MAIN_TP=1
    PUSH_IDLE=600                      # push: first calls after 10 minutes idle
    PUSH_SAMPLE=360 PUSH_WINDOWS=3     # push idle and 200 bindings: 3 windows of 2 safety polls
    COLD_RUNS=20
fi
PUSH_SAFETY=60s                        # push.safety-poll (the default, written out)
LEVELS=1,8,32
QGA_CHUNK_MIB=1                        # qemu-ga file transfer: MiB per guest-file-write/read call
export BENCH_WINDOWS=3                 # the idle and scale samples: 3 windows, one run each
UWSGI_WORKERS=4

T0=$(date +%s)
# Every agent runs the release as the package does, with its systemd unit's environment
# (tools/bench/unit-env.sh), unless AGENT_ENV="VAR=value ..." says otherwise ("" for the binary's defaults).
AGENT_ENV="${AGENT_ENV-$("$HERE/unit-env.sh")}"
say() { printf '\n[%3dm%02ds] %s\n' $(( ($(date +%s) - T0) / 60 )) $(( ($(date +%s) - T0) % 60 )) "$*" >&2; }
[[ -n "$OUT" ]] || OUT="$ROOT/artifacts/bench/$(date -u +%Y%m%dT%H%M%SZ)-$MODE"
mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
RUN="$(mktemp -d /tmp/ga-bench.XXXXXX)"; chmod 755 "$RUN"
export BENCH_JSON="$OUT/raw.jsonl"
: > "$BENCH_JSON"; : > "$OUT/failures.txt"
# A workload that fails is noted (failures.txt, the table's end) and the run goes on.
failed() { echo "bench: FAILED: $*" >&2; echo "$*" >> "$OUT/failures.txt"; }

# ---------------------------------------------------------------- cleanup: only what this run started
AGENTS=()
kill_tree() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done; kill "$1" 2>/dev/null; }
cleanup() {
    set +e
    # Workloads still running in the background (a failure or Ctrl-C), with their children.
    for j in $(jobs -p); do kill_tree "$j"; done
    for a in "${AGENTS[@]}"; do stop_agent "$a" & done
    [[ -f "$RUN/qga.pid" ]] && kill "$(cat "$RUN/qga.pid")" 2>/dev/null
    # Each stop waits for its processes to go (seconds each, with init reaping them): all at once.
    "$HERE/peers/murano.sh" stop "$RUN/murano" >/dev/null 2>&1 &
    "$HERE/peers/occ.sh" stop "$RUN/occ" >/dev/null 2>&1 &
    for b in main uwsgi idle scale pmain puwsgi pidle pscale; do [[ -d "$RUN/bed-$b" ]] && "$ROOT/tools/zaqar/stop.sh" "$RUN/bed-$b" >/dev/null 2>&1 & done
    wait
    rm -rf "$RUN/files" "$RUN/qga-files"
    # A run that stopped early still reports what it measured.
    [[ -s "$OUT/table.md" || ! -s "$BENCH_JSON" ]] || { "$PY" "$HERE/report.py" "$OUT" && echo "bench: partial results in $OUT" >&2; }
    echo "bench: everything started by this run is stopped; its state is in $RUN" >&2
    say "total $(( ($(date +%s) - T0) / 60 ))m$(( ($(date +%s) - T0) % 60 ))s, stopping everything included"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- agents
# start_agent NAME BED BINDINGS PREFIX CONNECTIONS [EXTRA HOCON] [push]: one guest-agent process
# with BINDINGS tenant bindings on bed BED, command queues PREFIX0 .. PREFIX{N-1} (or PREFIX alone
# when N is 1), default settings but for the log, the connection limit and EXTRA; with push,
# every binding has a push block naming the bed's WebSocket server (safety-poll PUSH_SAFETY).
start_agent() {
    local name="$1" bed="$2" n="$3" prefix="$4" conns="$5" extra="${6:-}" push="${7:-}" d="$RUN/agent-$1" url i q pb=""
    url="$(grep ^ZAQAR_URL= "$RUN/bed-$bed/env" | cut -d= -f2-)"
    if [[ "$push" == push ]]; then
        pb=", push { websocket = \"$(grep ^ZAQAR_WS_URL= "$RUN/bed-$bed/env" | cut -d= -f2-)\", safety-poll = $PUSH_SAFETY }"
        [[ "$pb" != *'""'* ]] || { echo "bench: bed $bed has no WebSocket server" >&2; return 1; }
    fi
    mkdir -p "$d" "$RUN/files/$name"
    {
        echo "guest-agent {"
        echo "  state-dir = \"$d/state\""
        echo "  log.file = false"
        echo "  log.level = Warning"
        [[ "$conns" == default ]] || echo "  zaqar-connections = $conns"
        echo "  $extra"
        echo "  tenants {"
        for (( i = 0; i < n; i++ )); do
            q="$prefix$i"; (( n == 1 )) && q="$prefix"
            # The bench sends unsigned commands (a throw-away loopback bed): allowed explicitly.
            echo "    b$i { endpoint = \"$url\", project = bench, command-queue = \"$q\", reply-queue = \"$q-r\","
            echo "          signing.allow-unsigned = true, file-roots = [\"$RUN/files/$name\"], http-destinations = [\"127.0.0.1:$HTTP_PORT\"]$pb }"
        done
        echo "  }"
        echo "}"
    } > "$d/agent.conf"
    launch_agent "$name"
}
# launch_agent NAME: starts the agent whose config is RUN/agent-NAME/agent.conf, and writes its
# start and kill -9 restart scripts.
launch_agent() {
    local name="$1" d="$RUN/agent-$1"
    cat > "$d/start.sh" <<SH
#!/bin/bash
setsid env $AGENT_ENV "$RUN/agent-bin/guest-agent" --config "$d/agent.conf" </dev/null >>"$d/agent.log" 2>&1 &
echo \$! > "$d/pid"
SH
    # Recovery: SIGKILL, then the same start at once.
    cat > "$d/restart-kill9.sh" <<SH
#!/bin/bash
kill -KILL "\$(cat "$d/pid")"
while kill -0 "\$(cat "$d/pid")" 2>/dev/null; do sleep 0.01; done
exec "$d/start.sh"
SH
    chmod +x "$d/start.sh" "$d/restart-kill9.sh"
    "$d/start.sh"
    AGENTS+=("$name")
}
# start_amqp_agent NAME RABBITMQ_DIR: one guest-agent process with one AMQP binding, a guest of
# tenant bench provisioned on the bed in RABBITMQ_DIR (tools/rabbitmq/provision.sh); writes
# RUN/agent-NAME/amqp.env, the controller's side (BENCH_TRANSPORT=amqp, GUESTAGENT_AMQP_*).
start_amqp_agent() {
    local name="$1" rdir="$2" d="$RUN/agent-$1" p
    mkdir -p "$d"
    p="$("$ROOT/tools/rabbitmq/provision.sh" "$rdir" bench "$name")" || return 1
    pget() { grep "^$1=" <<<"$p" | cut -d= -f2-; }
    pget RABBITMQ_PASSWORD > "$d/amqp.password"; chmod 600 "$d/amqp.password"
    # shellcheck disable=SC1091
    local port admin pw; port="$(. "$rdir/env"; echo "$RABBITMQ_AMQP_PORT")"
    admin="$(. "$rdir/env"; echo "$RABBITMQ_ADMIN_USER")" pw="$(. "$rdir/env"; echo "$RABBITMQ_ADMIN_PASSWORD")"
    cat > "$d/agent.conf" <<CONF
guest-agent {
  state-dir = "$d/state"
  log.file = false
  log.level = Warning
  tenants {
    b0 { transport = amqp, endpoint = "amqp://127.0.0.1:$port", project = bench, command-queue = commands, reply-queue = replies,
         signing.allow-unsigned = true,
         amqp { user = "$(pget RABBITMQ_USER)", password-file = "$d/amqp.password", command-queue = "$(pget COMMAND_QUEUE)",
                reply-exchange = "$(pget REPLY_EXCHANGE)" } }
  }
}
CONF
    cat > "$d/amqp.env" <<ENV
BENCH_TRANSPORT=amqp
GUESTAGENT_AMQP_URL=amqp://127.0.0.1:$port/bench
GUESTAGENT_AMQP_USER=$admin
GUESTAGENT_AMQP_PASSWORD=$pw
GUESTAGENT_AMQP_PREFIX=ga.$name.
GUESTAGENT_QUEUE=commands
BENCH_AMQP_REPLY_QUEUE=replies
ENV
    launch_agent "$name"
}
stop_agent() {
    local d="$RUN/agent-$1" pid
    [[ -f "$d/pid" ]] || return 0
    pid="$(cat "$d/pid")"
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q guest-agent; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$d/pid"
}
# bench NAME BED LABEL CONNECTIONS ARGS..: GuestAgent.Bench against agent NAME on bed BED.
# Its figures go to a file of its own, appended to raw.jsonl (O_APPEND) when it ends: several
# run at the same time.
bench() {
    local name="$1" bed="$2" label="$3" conns="$4" part rc=0; shift 4
    part="$(mktemp "$RUN/part.XXXXXX")"
    ( set -a; source "$RUN/bed-$bed/env"; set +a
      ZAQAR_PROJECT=bench GUESTAGENT_QUEUE="ga-$name" BENCH_BED="$label" BENCH_ZAQAR_CONNECTIONS="$conns" \
      BENCH_AGENT_PIDFILE="$RUN/agent-$name/pid" BENCH_AGENT_RESTART="$RUN/agent-$name/restart-kill9.sh" \
      BENCH_FILE_ROOT="$RUN/files/$name" BENCH_HTTP_PORT="$HTTP_PORT" BENCH_JSON="$part" \
      "$RUN/bench-bin/GuestAgent.Bench" "$@" ) || rc=$?
    cat "$part" >> "$BENCH_JSON"; rm -f "$part"
    return $rc
}
# bench_amqp NAME ARGS..: GuestAgent.Bench over AMQP against agent NAME (start_amqp_agent).
bench_amqp() {
    local name="$1" part rc=0; shift
    part="$(mktemp "$RUN/part.XXXXXX")"
    ( set -a; source "$RUN/agent-$name/amqp.env"; set +a
      BENCH_BED="RabbitMQ 3.10.8" BENCH_AGENT_PIDFILE="$RUN/agent-$name/pid" BENCH_AGENT_RESTART="$RUN/agent-$name/restart-kill9.sh" \
      BENCH_JSON="$part" "$RUN/bench-bin/GuestAgent.Bench" "$@" ) || rc=$?
    cat "$part" >> "$BENCH_JSON"; rm -f "$part"
    return $rc
}
drivers() { "$PY" "$HERE/peers/drivers.py" "$@"; }

WSGIREF="zaqar-server, 1 process"
UWSGI="uwsgi, $UWSGI_WORKERS processes"
# The push beds: the same servers with Zaqar's WebSocket server beside them (and the notifier on).
PWSGIREF="$WSGIREF + WebSocket"
PUWSGI="$UWSGI + WebSocket"

# ---------------------------------------------------------------- 1. install
say "1/8 installing what is missing (Debian packages)"
"$ROOT/tools/zaqar/install.sh" --uwsgi
"$ROOT/tools/keystone/install.sh"
"$HERE/peers/install.sh"

# ---------------------------------------------------------------- 2. beds and peers, while building
say "2/8 starting Zaqar ($WSGIREF; $UWSGI x3; then each again with WebSocket push), murano-agent + RabbitMQ, qemu-ga, keystone + os-collect-config; building"
"$HERE/peers/murano.sh" start "$RUN/murano" >"$RUN/murano-start.log" 2>&1 &
MURANO_START=$!
"$HERE/peers/occ.sh" start "$RUN/occ" >"$RUN/occ-start.log" 2>&1 &
OCC_START=$!
mkdir -p "$RUN/qga-state"
# qemu-ga's start, also its restart after kill -9 (the recovery workload).
cat > "$RUN/qga-start.sh" <<SH
#!/bin/bash
setsid qemu-ga -m unix-listen -p "$RUN/qga.sock" -t "$RUN/qga-state" </dev/null >>"$RUN/qga.log" 2>&1 &
echo \$! > "$RUN/qga.pid"
SH
chmod +x "$RUN/qga-start.sh"
"$RUN/qga-start.sh"
# The idle and scale beds log every request: the log gives Zaqar requests/s per queue prefix.
BEDS=()
"$ROOT/tools/zaqar/start.sh" --no-install --dir "$RUN/bed-main" >"$RUN/bed-main.log" 2>&1 & BEDS+=($!)
"$ROOT/tools/zaqar/start.sh" --no-install --server uwsgi --workers "$UWSGI_WORKERS" --dir "$RUN/bed-uwsgi" >"$RUN/bed-uwsgi.log" 2>&1 & BEDS+=($!)
for b in idle scale; do
    "$ROOT/tools/zaqar/start.sh" --no-install --server uwsgi --workers "$UWSGI_WORKERS" --log-requests --dir "$RUN/bed-$b" \
        >"$RUN/bed-$b.log" 2>&1 & BEDS+=($!)
done
# The agent as released (tools/package.sh): self-contained, with ReadyToRun code.
dotnet publish -nologo -v q -c Release -r "linux-$(dpkg --print-architecture | sed 's/amd64/x64/')" --self-contained true \
    -p:PublishReadyToRun=true -p:DebugType=none "$ROOT/src/GuestAgent.Agent" -o "$RUN/agent-bin" >"$RUN/build.log" 2>&1 \
    || { tail -30 "$RUN/build.log"; exit 1; }
# The push beds: the same four servers, each with Zaqar's WebSocket server (and the HTTP
# server's notifier); started after the build, so fewer start at once on a small machine.
PBEDS=()
"$ROOT/tools/zaqar/start.sh" --no-install --websocket --dir "$RUN/bed-pmain" >"$RUN/bed-pmain.log" 2>&1 & PBEDS+=($!)
"$ROOT/tools/zaqar/start.sh" --no-install --websocket --server uwsgi --workers "$UWSGI_WORKERS" --dir "$RUN/bed-puwsgi" \
    >"$RUN/bed-puwsgi.log" 2>&1 & PBEDS+=($!)
for b in pidle pscale; do
    "$ROOT/tools/zaqar/start.sh" --no-install --websocket --server uwsgi --workers "$UWSGI_WORKERS" --log-requests --dir "$RUN/bed-$b" \
        >"$RUN/bed-$b.log" 2>&1 & PBEDS+=($!)
done
# The bench tool is first needed for the first calls: it builds while the idle agents settle.
dotnet build -nologo -v q -c Release "$HERE/GuestAgent.Bench" -o "$RUN/bench-bin" >"$RUN/build-bench.log" 2>&1 &
BENCH_BUILD=$!
say "2/8 agent built; waiting for the beds"
HTTP_PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
for p in "${BEDS[@]}" "${PBEDS[@]}"; do wait "$p" || { cat "$RUN"/bed-*.log; exit 1; }; done
wait "$MURANO_START" || { cat "$RUN/murano-start.log"; exit 1; }
wait "$OCC_START" || { cat "$RUN/occ-start.log"; exit 1; }
set -a; source "$RUN/murano/env"; source "$RUN/occ/env"; set +a

# ---------------------------------------------------------------- the peers' parts, run where the mode puts them
# Idle peers: the agent processes (the pid files: recovery restarts murano-agent and qemu-ga), the broker.
peers_idle() {
    drivers sample "$1" idle \
        "proc:murano-agent:idle:@$RUN/murano/agent.pid" \
        "proc:rabbitmq:idle broker (beam):$RABBITMQ_PID" \
        "proc:qemu-ga:idle:@$RUN/qga.pid" \
        "proc:os-collect-config:idle:$OCC_PID" \
        "log:os-collect-config:idle:$OCC_KEYSTONE_DIR/zaqar-stdout.log:/queues/occ-bench/::zaqar-server + keystone"
}
# The peers under load: calls, throughput, file transfer, then recovery (kill -9 last: the
# restarted processes are fresh ones).
peers_load() {
    say "7/8 murano-agent: true and echo plans ($PEER_RUNS runs of $PEER_CALLS), plans/s, RabbitMQ floor"
    drivers murano-latency "$PEER_CALLS" "$PEER_RUNS" || failed "murano-agent latency"
    drivers murano-throughput "$TP_SECONDS" "$TP_RUNS" "$LEVELS" &
    local mt=$!
    sleep 1
    drivers sample "$(( TP_SECONDS > 2 ? TP_SECONDS - 1 : 1 ))" load "proc:murano-agent:under load (1 plan in flight):@$RUN/murano/agent.pid" \
        || failed "murano-agent under load"
    wait "$mt" || failed "murano-agent throughput"
    drivers rabbit-floor "$PEER_CALLS" "$PEER_RUNS" "$TP_SECONDS" "$LEVELS" || failed "RabbitMQ floor"
    say "7/8 guest-agent over AMQP on the same RabbitMQ: exec true ($PEER_RUNS runs of $PEER_CALLS), calls/s, kill -9 recovery"
    if start_amqp_agent amqp "$RUN/murano/rabbitmq"; then
        bench_amqp amqp call-latency "$PEER_CALLS" "$PEER_RUNS" >>"$OUT/bench-output.txt" || failed "guest-agent over AMQP: latency"
        bench_amqp amqp throughput "$TP_SECONDS" "$TP_RUNS" "$LEVELS" || failed "guest-agent over AMQP: throughput"
        for (( r = 1; r <= REC_RUNS; r++ )); do
            bench_amqp amqp recovery "$REC_CASTS" || failed "guest-agent over AMQP: recovery run $r"
        done
        stop_agent amqp
    else
        failed "guest-agent over AMQP: provisioning or start"
    fi
    say "7/8 qemu-ga: guest-exec /bin/true + guest-exec-status polling over its unix socket; $FILE_MIB MiB file both ways"
    drivers qga-latency "$RUN/qga.sock" "$((PEER_CALLS * 4))" "$PEER_RUNS" || failed "qemu-ga latency"
    drivers qga-file "$RUN/qga.sock" "$RUN/qga-files" "$FILE_MIB" "$FILE_RUNS" "$QGA_CHUNK_MIB" || failed "qemu-ga file transfer"
    say "7/8 murano-agent: $FILE_MIB MiB file into a plan and out as a script's stdout"
    drivers murano-file "$MURANO_DIR" "$FILE_MIB" "$FILE_RUNS" || failed "murano-agent file transfer ($FILE_MIB MiB)"
    local r
    for (( r = 1; r <= PEER_REC_RUNS; r++ )); do
        say "7/8 recovery $r/$PEER_REC_RUNS: murano-agent, kill -9 with $REC_CASTS plans queued; qemu-ga, kill -9 with $REC_CASTS execs running"
        drivers murano-recovery "$MURANO_DIR" "$REC_CASTS" || failed "murano-agent recovery run $r"
        drivers qga-recovery "$RUN/qga.sock" "$RUN/qga-start.sh" "$RUN/qga.pid" "$REC_CASTS" || failed "qemu-ga recovery run $r"
    done
}
# guest-agent's recovery, on an agent of its own (rec) on a uwsgi bed: BED.
ga_recovery() {
    local r
    for (( r = 1; r <= REC_RUNS; r++ )); do
        say "6/8 recovery $r/$REC_RUNS: kill -9 with $REC_CASTS casts in flight ($UWSGI, $1 bed)"
        bench rec "$1" "$UWSGI" 8 recovery "$REC_CASTS" || failed "recovery run $r"
    done
}

# ---------------------------------------------------------------- 3. idle cost, idle to first command, 100 bindings
say "3/8 idle: agents settle for ${IDLE_SETTLE}s, then ${IDLE_SAMPLE}s measured (RSS, CPU, Zaqar requests/s), then first calls"
start_agent idle1 idle 1 ga-idle1 default
start_agent first1s idle "$FIRST_K" ga-first1s- 16 'poll { max-interval = 1s }'
start_agent first5s idle "$FIRST_K" ga-first5s- 16
start_agent first15s idle "$FIRST_K" ga-first15s- 16 'poll { max-interval = 15s }'
start_agent scale100 scale 100 ga-scale100- 16
# Push: the same idle agent, K bindings for the first calls and 200 bindings, each on a push bed
# of its own kind. A binding claims only every safety poll (60 s) while push is up, so their
# requests/s are counted over whole safety-poll periods (PUSH_SAMPLE), beside the other loads
# (each process's CPU is its own; the request log counts per queue prefix).
start_agent pidle1 pidle 1 ga-pidle1 default "" push
start_agent pfirst pidle "$FIRST_K" ga-pfirst- 16 "" push
PFIRST_T0=$(date +%s)
start_agent pscale200 pscale 200 ga-pscale200- 16 "" push
PILOG="$RUN/bed-pidle/zaqar.log" PSLOG="$RUN/bed-pscale/zaqar.log"
push_sample() {
    sleep "$IDLE_SETTLE"
    say "3/8 push: idle agent${PUSH_IDLE:+, $FIRST_K-binding agent} and 200 bindings measured ${PUSH_SAMPLE}s ($PUSH_WINDOWS window(s))"
    local first=()
    # Quick: the push first calls come within this window (after the polling agents' idle spell),
    # so the K-binding agent's idle requests are counted in the full mode only.
    [[ -n "$PUSH_IDLE" ]] && first=("log:guest-agent:push idle per binding, safety-poll $PUSH_SAFETY:$PILOG:/queues/ga-pfirst-:$FIRST_K:$PUWSGI")
    BENCH_WINDOWS="$PUSH_WINDOWS" drivers sample "$PUSH_SAMPLE" idle \
        "proc:guest-agent:push idle (1 binding):@$RUN/agent-pidle1/pid" \
        "log:guest-agent:push idle (1 binding):$PILOG:/queues/ga-pidle1/::$PUWSGI" \
        "${first[@]}" \
        "proc:zaqar-ws:WebSocket server, idle bed:$(cat "$RUN/bed-pidle/ws.pid")" &
    local idle=$!
    BENCH_WINDOWS="$PUSH_WINDOWS" drivers sample "$PUSH_SAMPLE" scale \
        "proc:guest-agent:push 200 bindings idle:@$RUN/agent-pscale200/pid" \
        "log:guest-agent:push 200 bindings idle:$PSLOG:/queues/ga-pscale200-::$PUWSGI" \
        "log:guest-agent:push 200 bindings idle, per binding:$PSLOG:/queues/ga-pscale200-:200:$PUWSGI" \
        "proc:zaqar-uwsgi:serving 200 idle push bindings (uwsgi + WebSocket server):tree:$(cat "$RUN/bed-pscale/zaqar.pid")+$(cat "$RUN/bed-pscale/ws.pid")" \
        "proc:zaqar-ws:WebSocket server, 200 push bindings:$(cat "$RUN/bed-pscale/ws.pid")" || failed "push: 200 bindings idle"
    wait "$idle" || failed "push: idle sample"
}
push_sample & PUSH_SAMPLER=$!
PEERS_IDLE=""
if (( OVERLAP )); then
    # The peers have been idle since the build; measured while guest-agent's agents settle, so
    # their load can run during guest-agent's measured idle window.
    peers_idle "$IDLE_SAMPLE" & PEERS_IDLE=$!
fi
sleep "$IDLE_SETTLE"
[[ -z "$PEERS_IDLE" ]] || wait "$PEERS_IDLE" || failed "idle sample of the peers"
PEERS_LOAD=""
if (( OVERLAP )); then
    peers_load & PEERS_LOAD=$!
else
    peers_idle "$IDLE_SAMPLE" & PEERS_IDLE=$!
fi
ILOG="$RUN/bed-idle/zaqar.log" SLOG="$RUN/bed-scale/zaqar.log"
drivers sample "$IDLE_SAMPLE" scale \
    "proc:guest-agent:100 bindings idle:@$RUN/agent-scale100/pid" \
    "log:guest-agent:100 bindings idle:$SLOG:/queues/ga-scale100-::$UWSGI" \
    "proc:zaqar-uwsgi:serving 100 idle bindings:tree:$(cat "$RUN/bed-scale/zaqar.pid")" &
SCALE_SAMPLE=$!
drivers sample "$IDLE_SAMPLE" idle \
    "proc:guest-agent:idle (1 binding):@$RUN/agent-idle1/pid" \
    "log:guest-agent:idle (1 binding):$ILOG:/queues/ga-idle1/::$UWSGI" \
    "log:guest-agent:idle per binding, max-interval 1s:$ILOG:/queues/ga-first1s-:$FIRST_K:$UWSGI" \
    "log:guest-agent:idle per binding, max-interval 5s (default):$ILOG:/queues/ga-first5s-:$FIRST_K:$UWSGI" \
    "log:guest-agent:idle per binding, max-interval 15s:$ILOG:/queues/ga-first15s-:$FIRST_K:$UWSGI"
wait "$SCALE_SAMPLE"
(( OVERLAP )) || wait "$PEERS_IDLE" || failed "idle sample of the peers"
stop_agent idle1; stop_agent scale100

wait "$BENCH_BUILD" || { tail -30 "$RUN/build-bench.log"; exit 1; }

# ---------------------------------------------------------------- 4. 200 agents' worth of pollers, beside the first calls
# The first calls go to the idle bed, the 200 pollers to the scale bed: neither bed sees the other.
# Quick: guest-agent's recovery too, on the idle bed (uwsgi like the uwsgi bed; its idle
# windows are over), and it may go on beside step 5 should it take longer than the first calls.
# The agents start first, out of the calls' way.
say "4/8 scale: 200 bindings polling one Zaqar ($UWSGI) (settle ${S200_SETTLE}s, measure ${S200_SAMPLE}s)"
start_agent scale200 scale 200 ga-scale200- 16
(( OVERLAP )) && start_agent rec idle 1 ga-rec 16
sleep 3
say "4/8 first call after $((IDLE_SETTLE + IDLE_SAMPLE + 3))s idle, $FIRST_K trials per polling setting"
bench first1s idle "$UWSGI" 8 idle-first-call ga-first1s- "$FIRST_K" "max-interval 1s" &
P1=$!
bench first5s idle "$UWSGI" 8 idle-first-call ga-first5s- "$FIRST_K" "max-interval 5s (default)" &
P2=$!
bench first15s idle "$UWSGI" 8 idle-first-call ga-first15s- "$FIRST_K" "max-interval 15s" &
P3=$!
# Push: the K-binding agent's first calls, after the same idle spell (quick) or after PUSH_IDLE
# seconds (full: at the end of the run).
push_first() {
    local left=$(( ${PUSH_IDLE:-0} - ($(date +%s) - PFIRST_T0) ))
    (( left <= 0 )) || { say "waiting ${left}s more: the push agent's first calls come after ${PUSH_IDLE}s idle"; sleep "$left"; }
    say "push: first call after $(( $(date +%s) - PFIRST_T0 ))s idle, $FIRST_K trials"
    echo "push_idle_s=$(( $(date +%s) - PFIRST_T0 ))" > "$RUN/push-idle.txt"
    bench pfirst pidle "$PUWSGI" 8 idle-first-call ga-pfirst- "$FIRST_K" "push, safety-poll $PUSH_SAFETY" || failed "first call, push"
    stop_agent pfirst
}
PF=""
[[ -n "$PUSH_IDLE" ]] || { push_first & PF=$!; }
REC=""
if (( OVERLAP )); then
    ga_recovery idle & REC=$!
fi
sleep "$(( S200_SETTLE > 3 ? S200_SETTLE - 3 : 0 ))"
drivers sample "$S200_SAMPLE" scale \
    "proc:guest-agent:200 bindings idle:@$RUN/agent-scale200/pid" \
    "log:guest-agent:200 bindings idle:$SLOG:/queues/ga-scale200-::$UWSGI" \
    "proc:zaqar-uwsgi:serving 200 idle bindings:tree:$(cat "$RUN/bed-scale/zaqar.pid")"
stop_agent scale200
wait "$P1" || failed "first call, max-interval 1s"; wait "$P2" || failed "first call, default"
stop_agent first1s; stop_agent first5s
first15s_done() { wait "$P3" || failed "first call, max-interval 15s"; stop_agent first15s; }
# Quick: the first calls at max-interval 15 s (up to 5 x 15 s) may go on beside step 5; they only wait.
(( OVERLAP )) || first15s_done
if [[ -n "$PEERS_LOAD" ]]; then
    say "4/8 waiting for the peers' load to end"
    wait "$PEERS_LOAD" || failed "peers' load"
fi

[[ -z "$PF" ]] || wait "$PF" || failed "first call, push"
say "4/8 waiting for the push idle and 200-binding samples to end"
wait "$PUSH_SAMPLER" || failed "push samples"
stop_agent pidle1; stop_agent pscale200

# ---------------------------------------------------------------- 5. call latency and throughput, both Zaqar servers, polling and push
start_agent main main 1 ga-main 1
start_agent uwsgi uwsgi 1 ga-uwsgi 16
start_agent pmain pmain 1 ga-pmain 1 "" push
start_agent puwsgi puwsgi 1 ga-puwsgi 16 "" push
# zaqar-server serves one connection at a time: concurrent callers only queue on it (and stall
# it, docs/zaqar.md), so throughput there is measured with one caller; 8 and 32 run on uwsgi.
# The quick mode leaves that one-caller throughput out: its sequential latency just before is
# the same measure (and the table's throughput row is uwsgi's).
# The push agents on the push beds, whose floor (the same requests, no agent) runs the notifier.
for pass in "main|$WSGIREF|1|$MAIN_TP" "uwsgi|$UWSGI|8|$LEVELS" "pmain|$PWSGIREF|1|$MAIN_TP" "puwsgi|$PUWSGI|8|$LEVELS"; do
    IFS='|' read -r name label conns levels <<<"$pass"
    say "5/8 latency of exec true on $label: $LAT_RUNS runs of $LAT_CALLS calls, floor in the same run"
    bench "$name" "$name" "$label" "$conns" call-latency "$LAT_CALLS" "$LAT_RUNS" >>"$OUT/bench-output.txt" || failed "latency on $label"
    [[ -n "$levels" ]] || continue
    say "5/8 throughput on $label: $levels callers, ${TP_SECONDS}s each, $TP_RUNS runs, raw Zaqar in the same run"
    bench "$name" "$name" "$label" "$conns" throughput "$TP_SECONDS" "$TP_RUNS" "$levels" || failed "throughput on $label"
done

say "5/8 process starts from .NET, no agent: true alone, and a run of true (its supervisor) started the former way and as the agent does"
( BENCH_JSON="$BENCH_JSON.spawn" "$RUN/bench-bin/GuestAgent.Bench" spawn-floor "$LAT_CALLS" ) >>"$OUT/bench-output.txt" || failed "spawn floor"
[[ -f "$BENCH_JSON.spawn" ]] && { cat "$BENCH_JSON.spawn" >> "$BENCH_JSON"; rm -f "$BENCH_JSON.spawn"; }

say "5/8 one journal write, no agent: a row committed by Microsoft.Data.Sqlite alone, and an event persisted by Akka.Persistence.Sql as the ledger's are"
( BENCH_JSON="$BENCH_JSON.journal" "$RUN/bench-bin/GuestAgent.Bench" journal-floor "$LAT_CALLS" ) >>"$OUT/bench-output.txt" || failed "journal floor"
[[ -f "$BENCH_JSON.journal" ]] && { cat "$BENCH_JSON.journal" >> "$BENCH_JSON"; rm -f "$BENCH_JSON.journal"; }

say "5/8 a file.put chunk, no agent: what the controller's post and the agent's parse allocate per chunk"
( BENCH_JSON="$BENCH_JSON.chunk" "$RUN/bench-bin/GuestAgent.Bench" chunk-copies 300 ) >>"$OUT/bench-output.txt" || failed "chunk copies"
[[ -f "$BENCH_JSON.chunk" ]] && { cat "$BENCH_JSON.chunk" >> "$BENCH_JSON"; rm -f "$BENCH_JSON.chunk"; }

say "5/8 cold start on $UWSGI: $COLD_RUNS fresh agents on empty state directories, each with a call posted before it starts"
BENCH_AGENT_BIN="$RUN/agent-bin/guest-agent" BENCH_AGENT_ENV="$AGENT_ENV" bench cold uwsgi "$UWSGI" 8 cold-start "$COLD_RUNS" >>"$OUT/bench-output.txt" || failed "cold start"

# ---------------------------------------------------------------- 6. recovery and file transfer
if (( ! OVERLAP )); then
    start_agent rec uwsgi 1 ga-rec 16
    ga_recovery uwsgi
    stop_agent rec
fi
# On uwsgi only: the put's 8 posts in flight over one connection to the single-process
# zaqar-server is what docs/zaqar.md warns about (its older figures are in docs/performance.md).
say "6/8 file transfer of $FILE_MIB MiB on $UWSGI, $FILE_RUNS run(s), raw Zaqar payload rate in the same run"
bench uwsgi uwsgi "$UWSGI" 8 file-throughput "$FILE_MIB" "$FILE_RUNS" >>"$OUT/bench-output.txt" || failed "file transfer"
stop_agent main; stop_agent uwsgi; stop_agent pmain; stop_agent puwsgi

# ---------------------------------------------------------------- 7. peers under load (quick: done beside step 3)
(( OVERLAP )) || peers_load
if (( OVERLAP )); then
    say "6/8 waiting for the first calls at 15 s and the recovery run(s) started with them"
    first15s_done
    wait "$REC" || failed "recovery"
    stop_agent rec
fi
# Full: the push agent's first calls, once it has been idle PUSH_IDLE seconds.
[[ -z "$PUSH_IDLE" ]] || push_first

# ---------------------------------------------------------------- 8. report
say "8/8 writing the report"
{
    echo "mode=$MODE"
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +changes)"
    echo "machine=$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
    echo "load_before_report=$(cut -d' ' -f1-3 /proc/loadavg)"
    for p in zaqar-server uwsgi-core redis-server murano-agent rabbitmq-server qemu-guest-agent python3-os-collect-config keystone python3-kombu; do
        echo "pkg.$p=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)"
    done
    echo "dotnet=$(dotnet --version)"
    echo "agent_env=${AGENT_ENV:-none, the binary defaults}"
    echo "settings=calls $LAT_CALLS x $LAT_RUNS runs; cold starts $COLD_RUNS; throughput ${TP_SECONDS}s x $TP_RUNS runs at $LEVELS; idle ${IDLE_SETTLE}s + ${IDLE_SAMPLE}s measured; first-call trials $FIRST_K per setting; 200 pollers ${S200_SETTLE}s + ${S200_SAMPLE}s; recovery $REC_RUNS x $REC_CASTS casts (peers $PEER_REC_RUNS runs); file $FILE_MIB MiB x $FILE_RUNS (qemu-ga $QGA_CHUNK_MIB MiB a call); peers $PEER_CALLS x $PEER_RUNS; overlap $OVERLAP; push: safety-poll $PUSH_SAFETY, idle and 200 bindings ${IDLE_SETTLE}s + ${PUSH_SAMPLE}s measured ($PUSH_WINDOWS window(s)), first calls after ${PUSH_IDLE:-the same idle spell as polling}${PUSH_IDLE:+s}"
    cat "$RUN/push-idle.txt" 2>/dev/null || true
} > "$OUT/meta.txt"
"$PY" "$HERE/report.py" "$OUT"
cat "$OUT/table.md"
say "done in $(( ($(date +%s) - T0) / 60 ))m$(( ($(date +%s) - T0) % 60 ))s; results: $OUT (raw.jsonl, results.json, table.md)"
