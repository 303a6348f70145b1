#!/bin/bash
# start.sh -- start a loopback-only, keystone-authenticated, multi-tenant Zaqar bed:
#   keystone (Debian 2:22.x, SQLite, fernet tokens) under uwsgi, 1 process x 1 thread
#   redis-server (its own, no persistence)
#   zaqar-server 15.0.0 with auth_strategy = keystone (+ the GC loop of the plain bed)
# Keystone holds projects admin, tenant-a (user-a, role member), tenant-b (user-b,
# role member) and service (user zaqar, role service). Every password and the
# [signed_url] secret_key are fresh random values per start.
#
# Usage: tools/keystone/start.sh [--dir DIR] [--gc-interval SECONDS] [--websocket]
#                                [--authtoken NAME=VALUE]... [--no-install]
#   --dir          run directory (configs, database, keys, logs, pid files);
#                  default: a new ${TMPDIR:-/tmp}/guestagent-keystone.XXXXXX
#   --gc-interval  seconds between Zaqar GC runs (default 5; 0 = off), see
#                  tools/zaqar/gc-loop.py
#   --websocket    also start Zaqar's WebSocket server (keystone-authenticated:
#                  a socket sends `authenticate` with a token first) beside the
#                  HTTP one, as tools/zaqar/start.sh --websocket does; adds
#                  ZAQAR_WS_URL, ZAQAR_WS_PORT, ZAQAR_NOTIFICATION_PORT to the env
#   --authtoken    set NAME to VALUE in zaqar.conf's [keystone_authtoken] (an
#                  empty VALUE removes NAME: keystonemiddleware's default then
#                  applies), e.g. --authtoken service_token_roles_required=
#                  to see what the access-rule settings of zaqar.conf.in close
#   --no-install   do not run tools/keystone/install.sh first
#
# Ports are free 127.0.0.1 ports chosen here. On success prints the env file
# DIR/env (KEYSTONE_URL, ZAQAR_URL, ZAQAR_SECRET, the tenants' project ids,
# users and passwords, the admin's, KEYSTONE_RUN_DIR ...). On failure it stops
# whatever it had started and exits non-zero. Stop with tools/keystone/stop.sh DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3          # Debian's python: the pyenv one on PATH lacks the OpenStack packages
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME
DIR="" GC=5 INSTALL=1 WS=0 AUTHTOKEN=()
while (( $# )); do
    case "$1" in
        --dir) DIR="$2"; shift 2;;
        --gc-interval) GC="$2"; shift 2;;
        --no-install) INSTALL=0; shift;;
        --websocket) WS=1; shift;;
        --authtoken)
            [[ "$2" =~ ^[a-z_]+=[^|]*$ ]] || { echo "start.sh: --authtoken wants NAME=VALUE, not $2" >&2; exit 2; }
            AUTHTOKEN+=("$2"); shift 2;;
        -h|--help) sed -n '2,29p' "$0"; exit 0;;
        *) echo "start.sh: unknown argument $1" >&2; exit 2;;
    esac
done
T0=$(date +%s%N)
say() { printf 'keystone bed [%5.1fs]: %s\n' "$(( ($(date +%s%N) - T0) / 1000000 ))e-3" "$*" >&2; }
die() { echo "keystone bed: $*" >&2; exit 1; }

(( INSTALL )) && "$HERE/install.sh"

[[ -n "$DIR" ]] || DIR="$(mktemp -d "${TMPDIR:-/tmp}/guestagent-keystone.XXXXXX")"
[[ -d "$DIR" ]] || mkdir -p -m 700 "$DIR"     # it will hold secrets
DIR="$(cd "$DIR" && pwd)"
for p in keystone zaqar ws redis gc; do
    if [[ -f "$DIR/$p.pid" ]] && kill -0 "$(cat "$DIR/$p.pid")" 2>/dev/null; then
        die "a bed already runs from $DIR ($p pid $(cat "$DIR/$p.pid")); stop it first"
    fi
done
started=0
BOOTSTRAP=""
cleanup() {
    (( started )) && return
    [[ -n "$BOOTSTRAP" ]] && kill "$BOOTSTRAP" 2>/dev/null
    "$HERE/stop.sh" "$DIR" >/dev/null 2>&1
}
trap cleanup EXIT

# 0. A clean run directory (only the files this script makes), private: it holds secrets.
umask 077
rm -rf "$DIR/keystone.db" "$DIR/keystone.db-wal" "$DIR/keystone.db-shm" "$DIR/fernet-keys" \
    "$DIR/credential-keys" "$DIR/redis-data" "$DIR/policy.d" "$DIR/env" "$DIR/ports" "$DIR/db-ready" "$DIR"/*.pid "$DIR"/*.log
mkdir -p "$DIR/redis-data" "$DIR/policy.d/keystone" "$DIR/policy.d/zaqar"

# Five distinct free loopback ports (all sockets held open while choosing); the last two are
# the WebSocket server's, used only with --websocket.
read -r KPORT ZPORT RPORT WSPORT NPORT < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')
printf 'KEYSTONE_PORT=%s\nZAQAR_PORT=%s\nREDIS_PORT=%s\n' "$KPORT" "$ZPORT" "$RPORT" > "$DIR/ports"
KS="http://127.0.0.1:$KPORT/v3"
ZQ="http://127.0.0.1:$ZPORT"

rand() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
SECRET="$(rand 24)" ADMIN_PASSWORD="$(rand 12)" SERVICE_PASSWORD="$(rand 12)"
TENANT_A_PASSWORD="$(rand 12)" TENANT_B_PASSWORD="$(rand 12)"
sedesc() { printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'; }
subst() {
    sed -e "s|@DIR@|$(sedesc "$DIR")|g" -e "s|@KEYSTONE_PORT@|$KPORT|g" -e "s|@ZAQAR_PORT@|$ZPORT|g" \
        -e "s|@REDIS_PORT@|$RPORT|g" -e "s|@SECRET@|$SECRET|g" -e "s|@SERVICE_PASSWORD@|$SERVICE_PASSWORD|g" \
        "$HERE/$1.in" > "$DIR/$1"
}
subst keystone.conf
subst zaqar.conf
for setting in "${AUTHTOKEN[@]}"; do
    name="${setting%%=*}" value="${setting#*=}"
    sed -i -e "/^\[keystone_authtoken\]/,/^\[/{/^$name *=/d}" "$DIR/zaqar.conf"
    [[ -z "$value" ]] || sed -i -e "s|^\[keystone_authtoken\]\$|&\n$name = $(sedesc "$value")|" "$DIR/zaqar.conf"
done
if (( WS )); then
    # As in tools/zaqar/start.sh --websocket: the HTTP server notifies, the WebSocket server
    # reads the same config plus the overlay (tools/zaqar/websocket/README.md).
    printf '\n[storage]\nmessage_pipeline = zaqar.notification.notifier\n' >> "$DIR/zaqar.conf"
    sed -e "s/@WS_PORT@/$WSPORT/" -e "s/@NOTIFICATION_PORT@/$NPORT/" \
        "$HERE/../zaqar/websocket/zaqar-ws.conf.in" > "$DIR/zaqar-ws.conf"
    printf '\n[DEFAULT]\n# Its own log beside the HTTP server'"'"'s zaqar.log.\nlog_file = zaqar-ws.log\n' >> "$DIR/zaqar-ws.conf"
fi

# Fernet token keys and credential keys: what `keystone-manage fernet_setup` and
# `credential_setup` write (key 0 staged, key 1 primary; 32 random bytes, urlsafe
# base64), made here instead of in two more 5-second keystone-manage runs.
"$PY" - "$DIR" <<'PY'
import base64, os, sys
for repo in ("fernet-keys", "credential-keys"):
    d = os.path.join(sys.argv[1], repo)
    os.mkdir(d, 0o700)
    for i in (0, 1):
        with os.fdopen(os.open(os.path.join(d, str(i)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
PY

# Everything that can load in parallel starts now; on two cores most of the
# start-up is Python importing keystone and zaqar.
# 1. Keystone's database, and keystone-manage bootstrap (keystone-manage's own
#    entry point with its own arguments) importing keystone meanwhile: it
#    starts its work once db_sync is done and the file is in WAL mode.
KM=("$PY" /usr/bin/keystone-manage --config-file "$DIR/keystone.conf")
"${KM[@]}" db_sync >>"$DIR/keystone-manage.log" 2>&1 &
DBSYNC=$!
OS_BOOTSTRAP_PASSWORD="$ADMIN_PASSWORD" "$PY" - "$DIR/db-ready" --config-file "$DIR/keystone.conf" bootstrap \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
    --bootstrap-public-url "$KS" --bootstrap-internal-url "$KS" --bootstrap-admin-url "$KS" \
    >>"$DIR/keystone-manage.log" 2>&1 <<'PY' &
import os, sys, time
from keystone.cmd.manage import main          # what /usr/bin/keystone-manage runs
ready, deadline = sys.argv[1], time.monotonic() + 600
while not os.path.exists(ready):
    if time.monotonic() > deadline or os.getppid() == 1:
        sys.exit("bootstrap: gave up waiting for db_sync")
    time.sleep(0.05)
sys.argv = ["keystone-manage"] + sys.argv[2:]
sys.exit(main())
PY
BOOTSTRAP=$!

# 2. Keystone under uwsgi (the app needs the database only from its first
#    request on). It reads its config only from OS_KEYSTONE_CONFIG_DIR/_FILES.
#    ONE process (the in-process cache), ONE thread (SQLite connections must
#    stay in their thread). --http-socket closes each connection without saying
#    so; python-requests (keystonemiddleware) would reuse the dead socket
#    (errno 104), hence the explicit "Connection: close".
OS_KEYSTONE_CONFIG_DIR="$DIR" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
setsid uwsgi --plugin python3 --http-socket "127.0.0.1:$KPORT" --wsgi-file /usr/bin/keystone-wsgi-public \
    --master --processes 1 --threads 1 --lazy-apps --die-on-term --no-orphans --need-app \
    --buffer-size 65535 --add-header 'Connection: close' --chdir "$DIR" \
    </dev/null >"$DIR/keystone-uwsgi.log" 2>&1 &
echo $! > "$DIR/keystone.pid"

# 3. Redis: loopback only, no persistence.
setsid redis-server --bind 127.0.0.1 --port "$RPORT" --protected-mode yes --daemonize no --save '' \
    --appendonly no --dir "$DIR/redis-data" --logfile "$DIR/redis.log" </dev/null >/dev/null 2>&1 &
echo $! > "$DIR/redis.pid"

# 4. Zaqar: it needs keystone only when the first request with a token comes
#    (then keystonemiddleware fetches its service token).
setsid "$PY" /usr/bin/zaqar-server --config-file "$DIR/zaqar.conf" </dev/null >"$DIR/zaqar-stdout.log" 2>&1 &
echo $! > "$DIR/zaqar.pid"

for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null | grep -q PONG && break
    kill -0 "$(cat "$DIR/redis.pid")" 2>/dev/null || die "redis exited, see $DIR/redis.log"
    sleep 0.1
done
redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null | grep -q PONG || die "redis not ready, see $DIR/redis.log"

wait "$DBSYNC" || die "keystone-manage db_sync failed, see $DIR/keystone-manage.log"
# WAL (stored in the file): see keystone.conf [database].
[[ "$("$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL").fetchone()[0])' \
    "$DIR/keystone.db")" == wal ]] || die "could not switch keystone.db to WAL"
touch "$DIR/db-ready"
say "keystone database ready"
wait "$BOOTSTRAP" || die "keystone-manage bootstrap failed, see $DIR/keystone-manage.log"
BOOTSTRAP=""
say "keystone bootstrapped"

code=000
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$KS" || true)
    [[ "$code" == 200 ]] && break
    kill -0 "$(cat "$DIR/keystone.pid")" 2>/dev/null || die "keystone (uwsgi) exited, see $DIR/keystone-uwsgi.log"
    sleep 0.1
done
[[ "$code" == 200 ]] || die "keystone not ready on $KS (last HTTP $code), see $DIR/keystone-uwsgi.log"
say "keystone answers on $KS"

# 5. Projects, users, roles, catalog.
IDS="$(KEYSTONE_URL="$KS" ZAQAR_URL="$ZQ" ADMIN_PASSWORD="$ADMIN_PASSWORD" TENANT_A_PASSWORD="$TENANT_A_PASSWORD" \
    TENANT_B_PASSWORD="$TENANT_B_PASSWORD" ZAQAR_SERVICE_PASSWORD="$SERVICE_PASSWORD" \
    "$PY" "$HERE/provision.py")" || die "provisioning keystone failed (see $DIR/keystone.log)"
say "keystone provisioned"

# 6. Zaqar ready: "/" is unauthenticated (300, the version list); /v2/queues
#    without a token must be 401 (keystone auth active); and a real tenant token
#    must get through (this also fetches and caches zaqar's service token).
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$ZQ/" || true)
    [[ "$code" == 300 ]] && break
    kill -0 "$(cat "$DIR/zaqar.pid")" 2>/dev/null || die "zaqar exited, see $DIR/zaqar.log and $DIR/zaqar-stdout.log"
    sleep 0.1
done
[[ "$code" == 300 ]] || die "zaqar not ready on $ZQ (last HTTP $code), see $DIR/zaqar.log"
CID=3a1e2f60-0d3c-4b8e-9d7a-1f2e3d4c5b6a
code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' -H "Client-ID: $CID" "$ZQ/v2/queues" || true)
[[ "$code" == 401 ]] || die "zaqar answered $code (not 401) to a request without a token: keystone auth is not active"
TOKEN="$(curl -s -m 20 -D - -o /dev/null -H 'Content-Type: application/json' "$KS/auth/tokens" -d \
    '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"user-a","domain":{"id":"default"},"password":"'"$TENANT_A_PASSWORD"'"}}},"scope":{"project":{"name":"tenant-a","domain":{"id":"default"}}}}}' \
    | tr -d '\r' | awk 'tolower($1)=="x-subject-token:"{print $2}')"
[[ -n "$TOKEN" ]] || die "keystone gave user-a no token"
code=$(curl -s -o /dev/null -m 30 -w '%{http_code}' -H "Client-ID: $CID" -H "X-Auth-Token: $TOKEN" "$ZQ/v2/queues" || true)
[[ "$code" == 200 ]] || die "zaqar answered $code to tenant-a's token (expected 200), see $DIR/zaqar.log"
say "zaqar answers on $ZQ (keystone auth active)"

# 6b. The WebSocket server (keystone auth from the same config: keystonemiddleware checks the
#     token a socket sends with `authenticate`).
if (( WS )); then
    setsid "$PY" "$HERE/../zaqar/websocket/ws-server.py" --config-file "$DIR/zaqar.conf" \
        --config-file "$DIR/zaqar-ws.conf" </dev/null >"$DIR/ws-stdout.log" 2>&1 &
    echo $! > "$DIR/ws.pid"
    port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
    for _ in $(seq 1 300); do
        port_open "$WSPORT" && port_open "$NPORT" && break
        kill -0 "$(cat "$DIR/ws.pid")" 2>/dev/null || die "the WebSocket server exited, see $DIR/ws-stdout.log"
        sleep 0.1
    done
    port_open "$WSPORT" && port_open "$NPORT" || die "the WebSocket server is not listening on $WSPORT/$NPORT, see $DIR/ws-stdout.log"
    say "zaqar WebSocket server on ws://127.0.0.1:$WSPORT, notifications on 127.0.0.1:$NPORT"
fi

# 7. GC loop (see tools/zaqar/gc-loop.py).
if [[ "$GC" =~ ^[0-9.]+$ ]] && [[ "$GC" != 0 ]]; then
    setsid "$PY" "$HERE/../zaqar/gc-loop.py" --config-file "$DIR/zaqar.conf" --interval "$GC" \
        </dev/null >"$DIR/gc.log" 2>&1 &
    echo $! > "$DIR/gc.pid"
fi

cat > "$DIR/env" <<ENV
KEYSTONE_URL=$KS
KEYSTONE_PORT=$KPORT
KEYSTONE_REGION=RegionOne
KEYSTONE_DOMAIN_ID=default
ZAQAR_URL=$ZQ
ZAQAR_PORT=$ZPORT
REDIS_PORT=$RPORT
ZAQAR_SECRET=$SECRET
ADMIN_USER=admin
ADMIN_PASSWORD=$ADMIN_PASSWORD
ADMIN_PROJECT=admin
TENANT_A_PROJECT=tenant-a
TENANT_A_USER=user-a
TENANT_A_PASSWORD=$TENANT_A_PASSWORD
TENANT_B_PROJECT=tenant-b
TENANT_B_USER=user-b
TENANT_B_PASSWORD=$TENANT_B_PASSWORD
ZAQAR_SERVICE_USER=zaqar
ZAQAR_SERVICE_PASSWORD=$SERVICE_PASSWORD
$IDS
KEYSTONE_RUN_DIR=$DIR
ENV
if (( WS )); then
    printf 'ZAQAR_WS_URL=ws://127.0.0.1:%s\nZAQAR_WS_PORT=%s\nZAQAR_NOTIFICATION_PORT=%s\n' "$WSPORT" "$WSPORT" "$NPORT" >> "$DIR/env"
fi
started=1
say "keystone bed up: keystone $KS, zaqar $ZQ, redis 127.0.0.1:$RPORT, run dir $DIR"
cat "$DIR/env"
