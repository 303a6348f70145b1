#!/bin/bash
# footprint-floor.sh [--settle S] -- the memory under the agent, in one run: idle RSS and PSS of the
# .NET runtime alone, with an Akka.NET actor system, with Akka.Persistence.Sql's SQLite journal
# after one write (tools/bench/FootprintFloor), and of the agent itself idle with one binding on a
# local Zaqar bed; each self-contained: ReadyToRun (as tools/package.sh ships the agent), IL only
# (untrimmed) and trimmed. Read after S seconds (default 25) from /proc/PID/status and smaps_rollup.
# Not part of the test suite; takes a few minutes (six publishes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SETTLE=25
[[ "${1:-}" == --settle ]] && SETTLE="$2"
RUN="$(mktemp -d /tmp/ga-floor.XXXXXX)"
cleanup() { "$ROOT/tools/zaqar/stop.sh" "$RUN/bed" >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$ROOT/tools/zaqar/start.sh" --dir "$RUN/bed" >/dev/null &
BED=$!
for kind in readytorun untrimmed trimmed; do
    opts=(); [[ $kind == trimmed ]] && opts=(-p:PublishTrimmed=true); [[ $kind == readytorun ]] && opts=(-p:PublishReadyToRun=true)
    for p in FootprintFloor:tools/bench/FootprintFloor guest-agent:src/GuestAgent.Agent; do
        dotnet publish "$ROOT/${p#*:}" -nologo -v:q -c Release -r linux-x64 --self-contained true "${opts[@]}" -p:DebugType=none \
            -o "$RUN/$kind/${p%%:*}" >/dev/null
    done
done
wait "$BED"
set -a; source "$RUN/bed/env"; set +a
mem() { printf 'RSS %6.1f MiB  PSS %6.1f MiB' "$(awk '/VmRSS/{print $2/1024}' "/proc/$1/status")" "$(awk '/^Pss:/{print $2/1024}' "/proc/$1/smaps_rollup")"; }
printf '%-10s %-34s %s\n' build process "idle memory after ${SETTLE} s"
for kind in readytorun untrimmed trimmed; do
    for mode in runtime akka journal; do
        "$RUN/$kind/FootprintFloor/FootprintFloor" "$mode" "$RUN" > "$RUN/$kind-$mode.out" 2>&1 &
        pid=$!
        sleep "$SETTLE"
        grep -q ready "$RUN/$kind-$mode.out" || { echo "FootprintFloor $mode did not get ready:"; cat "$RUN/$kind-$mode.out"; }
        printf '%-10s %-34s %s\n' "$kind" "floor: $mode" "$(mem $pid)"
        kill "$pid"; wait "$pid" 2>/dev/null || true
    done
    mkdir -p "$RUN/agent-$kind"
    cat > "$RUN/agent-$kind/agent.conf" <<CONF
guest-agent {
  state-dir = "$RUN/agent-$kind/state"
  log.file = false
  log.level = Warning
  tenants.b0 { endpoint = "$ZAQAR_URL", project = floor, command-queue = "q-$kind", reply-queue = "q-$kind-r", signing.allow-unsigned = true }
}
CONF
    "$RUN/$kind/guest-agent/guest-agent" --config "$RUN/agent-$kind/agent.conf" > "$RUN/agent-$kind/agent.log" 2>&1 &
    pid=$!
    sleep "$SETTLE"
    printf '%-10s %-34s %s\n' "$kind" "guest-agent, one Zaqar binding" "$(mem $pid)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
