#!/bin/bash
# restart.sh -- start one part of a bed again, after tools/zaqar/stop.sh DIR PART, on the same
# port with the same options (the launch command start.sh kept in DIR), and wait until it answers.
# Redis comes back with its data only if the bed was started with --redis-aof.
#
# Usage: tools/zaqar/restart.sh DIR zaqar|ws|redis   (ws: the WebSocket server, same ports; its
# sockets were closed, so their subscriptions are gone and clients subscribe again)
set -euo pipefail
DIR="${1:?usage: restart.sh RUN_DIR zaqar|ws|redis}"; PART="${2:?usage: restart.sh RUN_DIR zaqar|ws|redis}"
die() { echo "restart.sh: $*" >&2; exit 1; }
[[ -f "$DIR/env" ]] || die "$DIR is not a bed's run directory"
source "$DIR/env"
case "$PART" in
    redis)
        [[ -f "$DIR/redis.pid" ]] && kill -0 "$(cat "$DIR/redis.pid")" 2>/dev/null && die "redis still runs"
        eval "setsid $(cat "$DIR/redis.cmd") </dev/null >/dev/null 2>&1 &"
        echo $! > "$DIR/redis.pid"
        for _ in $(seq 1 200); do
            # With an append-only file Redis answers LOADING until it has read it back.
            [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && exit 0
            sleep 0.1
        done
        die "redis did not come back on port $REDIS_PORT (see $DIR/redis.log)";;
    zaqar)
        [[ -f "$DIR/zaqar.pid" ]] && kill -0 "$(cat "$DIR/zaqar.pid")" 2>/dev/null && die "zaqar still runs"
        eval "setsid $(cat "$DIR/zaqar.cmd") </dev/null >>\"$DIR/zaqar.log\" 2>&1 &"
        echo $! > "$DIR/zaqar.pid"
        for _ in $(seq 1 300); do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Client-ID: 3a1e2f60-0d3c-4b8e-9d7a-1f2e3d4c5b6a' \
                -H 'X-Project-Id: bed-probe' "$ZAQAR_URL/v2/ping" || true)
            [[ "$code" == 204 ]] && exit 0
            sleep 0.1
        done
        die "zaqar did not come back on $ZAQAR_URL (see $DIR/zaqar.log)";;
    ws)
        [[ -f "$DIR/ws.cmd" ]] || die "$DIR has no WebSocket server (start.sh --websocket)"
        [[ -f "$DIR/ws.pid" ]] && kill -0 "$(cat "$DIR/ws.pid")" 2>/dev/null && die "the WebSocket server still runs"
        eval "setsid $(cat "$DIR/ws.cmd") </dev/null >>\"$DIR/ws.log\" 2>&1 &"
        echo $! > "$DIR/ws.pid"
        port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
        for _ in $(seq 1 300); do
            port_open "$ZAQAR_WS_PORT" && port_open "$ZAQAR_NOTIFICATION_PORT" && exit 0
            kill -0 "$(cat "$DIR/ws.pid")" 2>/dev/null || break
            sleep 0.1
        done
        die "the WebSocket server did not come back on $ZAQAR_WS_URL (see $DIR/ws.log)";;
    *) die "unknown part $PART (zaqar, ws or redis)";;
esac
