#!/bin/bash
# stop.sh -- stop the keystone bed started by start.sh from run directory DIR.
# Kills only the pids recorded there, after checking each still is the
# program it was (a recycled pid is left alone). TERM, then KILL after 5 s.
# Idempotent; the state in DIR (database, keys, logs, env) is left for a look.
#
# Usage: tools/keystone/stop.sh DIR
set -uo pipefail
DIR="${1:?usage: stop.sh RUN_DIR}"
[[ -d "$DIR" ]] || exit 0
DIR="$(cd "$DIR" && pwd)"

port() { sed -n "s/^$1=\([0-9]*\)$/\1/p" "$DIR/ports" 2>/dev/null; }
KPORT="$(port KEYSTONE_PORT)" RPORT="$(port REDIS_PORT)"

# Gone: no such process, or a zombie (setsid'ed servers are reaped by init, which may take seconds).
gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(sed -E 's/^.*\) ([A-Z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" == Z ]]; }

stop_pid() { # name pidfile expected-cmdline-substring
    local name="$1" file="$2" want="$3" pid
    [[ -f "$file" ]] || return 0
    pid="$(cat "$file")"
    if ! [[ "$pid" =~ ^[0-9]+$ ]] || gone "$pid"; then rm -f "$file"; return 0; fi
    if ! tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$want"; then
        echo "$name: pid $pid is no longer '$want', left alone" >&2; rm -f "$file"; return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do gone "$pid" && break; sleep 0.1; done
    gone "$pid" || kill -KILL "$pid" 2>/dev/null
    rm -f "$file"
}

stop_pid gc "$DIR/gc.pid" "gc-loop.py --config-file $DIR/zaqar.conf"
stop_pid ws "$DIR/ws.pid" "ws-server.py --config-file $DIR/zaqar.conf"
stop_pid zaqar "$DIR/zaqar.pid" "zaqar-server --config-file $DIR/zaqar.conf"
# the uwsgi master; --die-on-term and --no-orphans take its worker with it
stop_pid keystone "$DIR/keystone.pid" "uwsgi --plugin python3 --http-socket 127.0.0.1:$KPORT "
# redis-server rewrites its command line to "redis-server 127.0.0.1:PORT"
stop_pid redis "$DIR/redis.pid" "redis-server 127.0.0.1:$RPORT"
exit 0
