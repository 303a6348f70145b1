#!/bin/bash
# idle-threads.sh [SETTLE_S] [SAMPLE_S] -- where an idle agent's CPU and wake-ups go, thread by
# thread: one binding on a uwsgi Zaqar bed with the WebSocket server beside it (push, unless
# PUSH=0), the release build (self-contained, ReadyToRun, as tools/package.sh publishes it; AGENT=
# names another executable), settled SETTLE_S seconds (default 60), then SAMPLE_S seconds (default
# 120) measured from /proc: CPU ticks and context switches of each thread, and the process's; its
# RSS and PSS at the end. The agent gets the package unit's environment (tools/bench/unit-env.sh)
# unless AGENT_ENV="VAR=value ..." says otherwise (AGENT_ENV="" runs the binary's defaults).
# Not part of the test suite; run it on a quiet machine.
#   tools/bench/idle-threads.sh 60 120
#   PUSH=0 tools/bench/idle-threads.sh
#   PUSH_SETTINGS="ping-interval = 30s, ping-timeout = 30s" tools/bench/idle-threads.sh 300 120   # push settings to try
#   TRACE_THREADS=1 tools/bench/idle-threads.sh 60 120   # count threads started meanwhile with strace
#                                                         # (instead of looking at /proc five times a second)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SETTLE="${1:-60}"; SAMPLE="${2:-120}"; PUSH="${PUSH:-1}"
RUN="$(mktemp -d /tmp/ga-idle.XXXXXX)"; chmod 755 "$RUN"
cleanup() {
    if [[ -f "$RUN/agent.pid" ]] && tr '\0' ' ' < "/proc/$(cat "$RUN/agent.pid")/cmdline" 2>/dev/null | grep -q guest-agent; then
        kill "$(cat "$RUN/agent.pid")"
    fi
    "$ROOT/tools/zaqar/stop.sh" "$RUN/bed" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$ROOT/tools/zaqar/start.sh" --websocket --server uwsgi --workers 2 --dir "$RUN/bed" >"$RUN/bed.log" 2>&1 &
START=$!
AGENT="${AGENT:-}"
if [[ -z "$AGENT" ]]; then
    dotnet publish -nologo -v q -c Release -r linux-x64 --self-contained -p:PublishReadyToRun=true \
        "$ROOT/src/GuestAgent.Agent" -o "$RUN/agent-bin" >/dev/null
    AGENT="$RUN/agent-bin/guest-agent"
fi
wait "$START" || { cat "$RUN/bed.log" >&2; exit 1; }
set -a; source "$RUN/bed/env"; set +a
PB=""; [[ "$PUSH" == 1 ]] && PB=", push { websocket = \"$ZAQAR_WS_URL\" ${PUSH_SETTINGS:+, $PUSH_SETTINGS} }"
cat > "$RUN/agent.conf" <<CONF
guest-agent {
  state-dir = "$RUN/state"
  tenants.idle { endpoint = "$ZAQAR_URL", project = bench, command-queue = idle-cmd, reply-queue = idle-rep,
                 signing.allow-unsigned = true $PB }
}
CONF
env ${AGENT_ENV-$("$ROOT/tools/bench/unit-env.sh")} "$AGENT" --config "$RUN/agent.conf" >"$RUN/agent.log" 2>&1 &
PID=$!; echo "$PID" > "$RUN/agent.pid"
echo "agent $PID ($AGENT; $(tr '\0' ' ' </proc/$PID/environ | grep -o 'DOTNET_[^ ]*' | tr '\n' ' ')), push: $([[ "$PUSH" == 1 ]] && echo on || echo off); settling ${SETTLE}s, then ${SAMPLE}s measured" >&2
sleep "$SETTLE"
# tid name cpu-ns (schedstat: nanoseconds on a CPU) switches (voluntary + involuntary), for every thread now alive.
snap() {
    local t
    for t in /proc/"$PID"/task/*; do
        { echo "${t##*/} $(tr ' ' '_' < "$t/comm") $(cut -d' ' -f1 "$t/schedstat")" \
            "$(awk -F: '/ctxt_switches/ {n += $2} END {print n}' "$t/status")"; } 2>/dev/null || true
    done
}
proc() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
snap > "$RUN/before"; P0=$(proc)
if [[ -n "${TRACE_THREADS:-}" ]]; then
    # Threads started during the sample (their CPU is in the process's total, not in the table below).
    timeout "$SAMPLE" strace -f -qq -e trace=clone,clone3 -e signal=none -o "$RUN/clones" -p "$PID" 2>/dev/null || true
else
    # Every thread seen during the sample, five times a second (bash builtins only: no process per look).
    end=$((SECONDS + SAMPLE))
    while (( SECONDS < end )); do
        for t in /proc/"$PID"/task/*; do
            { read -r comm < "$t/comm"; read -r ns _ < "$t/schedstat"; echo "${t##*/} ${comm// /_} $ns"; } 2>/dev/null || true
        done
        sleep 0.2
    done > "$RUN/seen"
fi
snap > "$RUN/after"; P1=$(proc)
HZ=$(getconf CLK_TCK)
echo "per thread over ${SAMPLE}s (threads alive at both ends; CPU ms, wake-ups/s):"
join <(sort "$RUN/before") <(sort "$RUN/after") |
    awk -v s="$SAMPLE" '{cpu = ($6 - $3) / 1e6; sw = ($7 - $4) / s; if (cpu > 0.05 || sw > 0.01) printf "  %-8s %-24s %8.1f ms  %6.2f /s\n", $1, $2, cpu, sw}' |
    sort -k3 -rn
if [[ -f "$RUN/seen" ]]; then
    # Threads that started or ended within the sample: their CPU is in the process's total, not in the table above.
    echo "threads that came or went during the sample (CPU ms within it, by name):"
    awk 'FNR == 1 { f++ } f == 1 { b[$1] = $3; next } f == 2 { a[$1] = 1; next }
         { last[$1] = $3; name[$1] = $2 }
         END { for (t in last) if (!((t in b) && (t in a))) { n[name[t]]++; c[name[t]] += (last[t] - b[t]) / 1e6 }
               for (k in n) printf "  %-24s %3d threads %8.1f ms\n", k, n[k], c[k] }' \
        "$RUN/before" "$RUN/after" "$RUN/seen" | sort -k4 -rn
fi
echo "threads: $(wc -l < "$RUN/before") before, $(wc -l < "$RUN/after") after$([[ -f "$RUN/clones" ]] && echo ", $(grep -c 'clone' "$RUN/clones") started during the sample")"
echo "process: $(awk -v a="$P0" -v b="$P1" -v hz="$HZ" -v s="$SAMPLE" 'BEGIN {printf "%.0f ms CPU in %ss = %.3f %% of a core", (b - a) * 1000 / hz, s, (b - a) * 100 / hz / s}')"
echo "memory at the end: $(awk '/^VmRSS/ {printf "RSS %.1f MiB", $2 / 1024}' "/proc/$PID/status"), $(awk '/^Pss:/ {printf "PSS %.1f MiB", $2 / 1024}' "/proc/$PID/smaps_rollup")"
