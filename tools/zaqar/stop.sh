#!/bin/bash
# stop.sh -- stop the bed started by start.sh from run directory DIR.
# Kills only the pids recorded there, after checking each still is the
# program it was (a recycled pid is left alone). TERM, then KILL after 5 s.
#
# Usage: tools/zaqar/stop.sh DIR [zaqar|ws|redis|gc ...]   (default: all of them; ws is the
# WebSocket server of a bed started with --websocket)
set -uo pipefail
DIR="${1:?usage: stop.sh RUN_DIR [zaqar|ws|redis|gc ...]}"; shift
PARTS=("$@"); (( ${#PARTS[@]} )) || PARTS=(gc ws zaqar redis)

stop_pid() { # name pidfile expected-cmdline-substring
    local name="$1" file="$2" want="$3" pid
    [[ -f "$file" ]] || return 0
    pid="$(cat "$file")"
    if ! kill -0 "$pid" 2>/dev/null; then rm -f "$file"; return 0; fi
    if ! tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$want"; then
        echo "$name: pid $pid is no longer $want, left alone" >&2; rm -f "$file"; return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$file"
}

for part in "${PARTS[@]}"; do
    case "$part" in
        gc) stop_pid gc "$DIR/gc.pid" gc-loop.py;;
        zaqar)
            if [[ "$(cat "$DIR/server" 2>/dev/null)" == uwsgi ]]; then stop_pid zaqar "$DIR/zaqar.pid" uwsgi
            else stop_pid zaqar "$DIR/zaqar.pid" zaqar-server; fi;;
        ws) stop_pid ws "$DIR/ws.pid" websocket/ws-server.py;;
        redis) stop_pid redis "$DIR/redis.pid" redis-server;;
        *) echo "stop.sh: unknown part $part" >&2; exit 2;;
    esac
done
