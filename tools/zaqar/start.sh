#!/bin/bash
# start.sh -- start a loopback-only Redis + Zaqar 15 API server (+ GC loop).
#
# Usage: tools/zaqar/start.sh [--dir DIR] [--zaqar-port N] [--redis-port N]
#                             [--server wsgiref|uwsgi] [--workers N]
#                             [--gc-interval SECONDS] [--log-requests] [--redis-aof]
#                             [--websocket] [--ws-port N] [--notification-port N]
#                             [--no-install]
#   --dir          run directory (config, logs, pid files); default
#                  tools/zaqar/run/<zaqar-port>
#   --zaqar-port   default: a free port        --redis-port  default: a free port
#   --server       wsgiref (/usr/bin/zaqar-server, one request at a time;
#                  the default) or uwsgi (--workers processes, default 4)
#   --gc-interval  seconds between GC runs (default 5; 0 = off). zaqar-gc is
#                  a no-op in 15.0.0, and without GC an expired claim makes
#                  its queue's stats and the claim itself answer 503.
#   --log-requests uwsgi: log every request to zaqar.log (zaqar-server always
#                  does), so that tools/bench can count Zaqar requests per queue
#   --redis-aof    Redis keeps its data in an append-only file fsynced on every
#                  write, so a Redis restart (tools/zaqar/restart.sh) loses no
#                  message (the soak needs it); default: no persistence.
#   --websocket    also start Zaqar's WebSocket server (push to subscribed
#                  sockets) beside the HTTP one, on the same Redis stores, and
#                  turn on the HTTP server's notifier (tools/zaqar/websocket/README.md)
#   --ws-port      default: a free port
#   --notification-port  the WebSocket server's notification listener
#                  (unauthenticated, always 127.0.0.1); default: a free port,
#                  kept across restart.sh
#
# On success prints the run directory's env file, which holds
#   ZAQAR_URL, ZAQAR_PORT, REDIS_PORT, ZAQAR_SECRET, ZAQAR_RUN_DIR
#   and with --websocket ZAQAR_WS_URL, ZAQAR_WS_PORT, ZAQAR_NOTIFICATION_PORT
# Stop with tools/zaqar/stop.sh DIR: it stops exactly the processes started here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3          # Debian's python: the pyenv one on PATH lacks zaqar's deps
DIR="" ZPORT="" RPORT="" SERVER=wsgiref WORKERS=4 GC=5 INSTALL=1 AOF=0 REQLOG=--disable-logging
WS=0 WSPORT="" NPORT=""
while (( $# )); do
    case "$1" in
        --dir) DIR="$2"; shift 2;;
        --zaqar-port) ZPORT="$2"; shift 2;;
        --redis-port) RPORT="$2"; shift 2;;
        --server) SERVER="$2"; shift 2;;
        --workers) WORKERS="$2"; shift 2;;
        --gc-interval) GC="$2"; shift 2;;
        --log-requests) REQLOG=""; shift;;
        --redis-aof) AOF=1; shift;;
        --no-install) INSTALL=0; shift;;
        --websocket) WS=1; shift;;
        --ws-port) WSPORT="$2"; shift 2;;
        --notification-port) NPORT="$2"; shift 2;;
        -h|--help) sed -n '2,33p' "$0"; exit 0;;
        *) echo "start.sh: unknown argument $1" >&2; exit 2;;
    esac
done
die() { echo "zaqar bed: $*" >&2; exit 1; }
case "$SERVER" in wsgiref|uwsgi) ;; *) die "--server must be wsgiref or uwsgi";; esac

if (( INSTALL )); then
    if [[ "$SERVER" == uwsgi ]]; then "$HERE/install.sh" --uwsgi; else "$HERE/install.sh"; fi
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
[[ -n "$ZPORT" ]] || ZPORT="$(free_port)"
[[ -n "$RPORT" ]] || RPORT="$(free_port)"
[[ "$ZPORT" =~ ^[0-9]+$ && "$RPORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
if (( WS )); then
    [[ -n "$WSPORT" ]] || WSPORT="$(free_port)"
    [[ -n "$NPORT" ]] || NPORT="$(free_port)"
    [[ "$WSPORT" =~ ^[0-9]+$ && "$NPORT" =~ ^[0-9]+$ ]] || die "ports must be numbers"
fi
[[ -n "$DIR" ]] || DIR="$HERE/run/$ZPORT"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [[ -f "$DIR/zaqar.pid" ]] && kill -0 "$(cat "$DIR/zaqar.pid")" 2>/dev/null; then
    die "a bed already runs from $DIR (zaqar pid $(cat "$DIR/zaqar.pid")); stop it first"
fi

# 1. Redis: loopback only, no persistence unless --redis-aof (the bed is disposable).
# Each launch command is kept in the run directory: restart.sh starts a part again exactly so.
mkdir -p "$DIR/redis-data"
REDIS_CMD=(redis-server --bind 127.0.0.1 --port "$RPORT" --daemonize no --save '' --dir "$DIR/redis-data" --logfile "$DIR/redis.log")
if (( AOF )); then REDIS_CMD+=(--appendonly yes --appendfsync always); else REDIS_CMD+=(--appendonly no); fi
printf '%q ' "${REDIS_CMD[@]}" > "$DIR/redis.cmd"
setsid "${REDIS_CMD[@]}" </dev/null >/dev/null 2>&1 &
echo $! > "$DIR/redis.pid"
for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
    kill -0 "$(cat "$DIR/redis.pid")" 2>/dev/null || die "redis exited, see $DIR/redis.log"
    sleep 0.1
done
redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null | grep -q PONG || die "redis not ready, see $DIR/redis.log"

# 2. Config: a fresh signing secret per bed unless one is given.
SECRET="${ZAQAR_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
sed -e "s/@ZAQAR_PORT@/$ZPORT/" -e "s/@REDIS_PORT@/$RPORT/" -e "s/@SECRET@/$SECRET/" \
    "$HERE/zaqar.conf.in" > "$DIR/zaqar.conf"
if (( WS )); then
    # The server that stores a posted message is the one that notifies its subscribers, so the
    # HTTP server needs the notifier; the WebSocket server reads this file too, plus its overlay.
    cat >> "$DIR/zaqar.conf" <<CONF

[storage]
message_pipeline = zaqar.notification.notifier
CONF
    sed -e "s/@WS_PORT@/$WSPORT/" -e "s/@NOTIFICATION_PORT@/$NPORT/" \
        "$HERE/websocket/zaqar-ws.conf.in" > "$DIR/zaqar-ws.conf"
fi

# 3. Zaqar.
if [[ "$SERVER" == wsgiref ]]; then
    ZAQAR_CMD=("$PY" /usr/bin/zaqar-server --config-file "$DIR/zaqar.conf")
else
    # app.py builds the app at import time from sys.argv: --pyargv carries the
    # config file; --lazy-apps gives each worker its own Redis connections.
    # --http-socket closes each connection after its answer without saying so: a
    # pooling client then sends its next request on a dead socket (reset, or a
    # response that ends before it starts), and with many callers it meets one
    # again on every repeat. "Connection: close" says it, so no client reuses one.
    ZAQAR_CMD=(uwsgi --plugin python3 --http-socket "127.0.0.1:$ZPORT"
        --module zaqar.transport.wsgi.app:application --pyargv "--config-file $DIR/zaqar.conf"
        --master --processes "$WORKERS" --threads 1 --lazy-apps --die-on-term --need-app
        --buffer-size 65535 --post-buffering 65536 --add-header 'Connection: close' $REQLOG)
fi
printf '%q ' "${ZAQAR_CMD[@]}" > "$DIR/zaqar.cmd"
setsid "${ZAQAR_CMD[@]}" </dev/null >"$DIR/zaqar.log" 2>&1 &
echo $! > "$DIR/zaqar.pid"
echo "$SERVER" > "$DIR/server"

CID=3a1e2f60-0d3c-4b8e-9d7a-1f2e3d4c5b6a
code=000
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Client-ID: $CID" -H "X-Project-Id: bed-probe" \
        "http://127.0.0.1:$ZPORT/v2/ping" || true)
    [[ "$code" == 204 ]] && break
    kill -0 "$(cat "$DIR/zaqar.pid")" 2>/dev/null || die "zaqar exited, see $DIR/zaqar.log"
    sleep 0.1
done
[[ "$code" == 204 ]] || die "zaqar not ready on 127.0.0.1:$ZPORT (last HTTP $code), see $DIR/zaqar.log"

# 4. The WebSocket server: the same config plus the overlay, with the Python 3.11 and Redis
# fixes applied in its process by ws-server.py.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if (( WS )); then
    WS_CMD=("$PY" "$HERE/websocket/ws-server.py" --config-file "$DIR/zaqar.conf" --config-file "$DIR/zaqar-ws.conf")
    printf '%q ' "${WS_CMD[@]}" > "$DIR/ws.cmd"
    setsid "${WS_CMD[@]}" </dev/null >"$DIR/ws.log" 2>&1 &
    echo $! > "$DIR/ws.pid"
    for _ in $(seq 1 300); do
        port_open "$WSPORT" && port_open "$NPORT" && break
        kill -0 "$(cat "$DIR/ws.pid")" 2>/dev/null || die "the WebSocket server exited, see $DIR/ws.log"
        sleep 0.1
    done
    port_open "$WSPORT" && port_open "$NPORT" || die "the WebSocket server is not listening on $WSPORT/$NPORT, see $DIR/ws.log"
fi

# 5. GC loop.
if [[ "$GC" =~ ^[0-9.]+$ ]] && [[ "$GC" != 0 ]]; then
    setsid "$PY" "$HERE/gc-loop.py" --config-file "$DIR/zaqar.conf" --interval "$GC" \
        </dev/null >"$DIR/gc.log" 2>&1 &
    echo $! > "$DIR/gc.pid"
fi

cat > "$DIR/env" <<ENV
ZAQAR_URL=http://127.0.0.1:$ZPORT
ZAQAR_PORT=$ZPORT
REDIS_PORT=$RPORT
ZAQAR_SECRET=$SECRET
ZAQAR_RUN_DIR=$DIR
ENV
if (( WS )); then
    cat >> "$DIR/env" <<ENV
ZAQAR_WS_URL=ws://127.0.0.1:$WSPORT
ZAQAR_WS_PORT=$WSPORT
ZAQAR_NOTIFICATION_PORT=$NPORT
ENV
fi
(( WS )) && echo "zaqar bed: WebSocket server on ws://127.0.0.1:$WSPORT, notifications on 127.0.0.1:$NPORT" >&2
echo "zaqar bed ($SERVER) on http://127.0.0.1:$ZPORT, redis 127.0.0.1:$RPORT, run dir $DIR" >&2
cat "$DIR/env"
