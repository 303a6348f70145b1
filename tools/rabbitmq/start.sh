#!/bin/bash
# start.sh -- start a private RabbitMQ (Debian's rabbitmq-server) on 127.0.0.1.
#
# Usage: tools/rabbitmq/start.sh [--dir DIR] [--amqp-port N] [--tls] [--no-install]
#   --dir        run directory (config, cookie, mnesia, logs, pid files); default
#                tools/rabbitmq/run/<amqp-port>. Whatever an earlier bed left there is wiped.
#   --amqp-port  default: a free port
#   --tls        also an amqps listener on another free 127.0.0.1 port, with a server certificate
#                for localhost and 127.0.0.1 signed by a throw-away CA made with openssl in
#                DIR/tls (ca.pem is what clients trust; the keys never leave DIR)
#
# The broker runs as the calling user from its versioned sbin/ (the /usr/sbin wrapper would
# switch to the rabbitmq user and use /var/lib/rabbitmq), node ga_bed_<amqp-port>@localhost, with
# its own epmd; AMQP, epmd, distribution and CLI ports all on 127.0.0.1; no plugins (no
# management listener). The only user is an administrator with a fresh random password (the
# default guest user is never created); tenants and guests are added with provision.sh.
#
# On success prints the run directory's env file:
#   RABBITMQ_URL (amqp://admin:pw@127.0.0.1:port/ for the / vhost), RABBITMQ_AMQP_PORT,
#   RABBITMQ_NODE, RABBITMQ_ADMIN_USER, RABBITMQ_ADMIN_PASSWORD, RABBITMQ_RUN_DIR,
#   RABBITMQ_START_SECONDS and the ports stop/restart/ctl.sh need; with --tls also
#   RABBITMQ_AMQPS_PORT, RABBITMQ_AMQPS_URL and RABBITMQ_CA_FILE (the CA's certificate, PEM).
# Stop with tools/rabbitmq/stop.sh DIR; restart on the same ports and data with restart.sh DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3
ARGS=("$@")
DIR="" AMQP_PORT="" INSTALL=1 TLS=0
while (( $# )); do
    case "$1" in
        --dir) DIR="$2"; shift 2;;
        --amqp-port) AMQP_PORT="$2"; shift 2;;
        --tls) TLS=1; shift;;
        --no-install) INSTALL=0; shift;;
        -h|--help) sed -n '2,23p' "$0"; exit 0;;
        *) echo "start.sh: unknown argument $1" >&2; exit 2;;
    esac
done
die() { echo "rabbitmq bed: $*" >&2; exit 1; }
(( INSTALL )) && "$HERE/install.sh"

# Five free ports in one go (bound together, so they differ); the fifth is amqps' with --tls.
read -r FREE_AMQP DIST_PORT CTL_PORT EPMD_PORT AMQPS_PORT < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')
ARG_AMQP_PORT="$AMQP_PORT"
[[ -n "$AMQP_PORT" ]] || AMQP_PORT="$FREE_AMQP"
[[ "$AMQP_PORT" =~ ^[0-9]+$ ]] || die "--amqp-port must be a number"
[[ -n "$DIR" ]] || DIR="$HERE/run/$AMQP_PORT"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [[ -f "$DIR/beam.pid" ]] && kill -0 "$(cat "$DIR/beam.pid")" 2>/dev/null; then
    die "a bed already runs from $DIR (beam pid $(cat "$DIR/beam.pid")); stop it first"
fi
# mnesia is named after the node: a fresh name and a fresh directory, never an old bed's data.
NODE="ga_bed_${AMQP_PORT}@localhost"
rm -rf "$DIR/home" "$DIR/mnesia" "$DIR/log" "$DIR/env" "$DIR/tls"
mkdir -p "$DIR/home" "$DIR/log"
chmod 700 "$DIR" "$DIR/home"
head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/home/.erlang.cookie"
chmod 400 "$DIR/home/.erlang.cookie"

ADMIN_USER=admin
ADMIN_PASSWORD="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# default_user replaces guest/guest: on its first boot the broker creates this user (tagged
# administrator, all permissions on /) instead of guest, so no well-known login ever exists.
# disk_free_limit is the default (50MB) written out: the disk-alarm control (ctl.sh DIR
# set_disk_free_limit, RabbitBed.RaiseDiskAlarm) raises it at run time and sets it back to this
# value; a restart also comes back with it.
cat > "$DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
disk_free_limit.absolute = 50MB
default_user = $ADMIN_USER
default_pass = $ADMIN_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
log.file.level = info
log.console = false
CONF
if (( TLS )); then
    # A throw-away CA (a cloud's own, in small) and the broker's certificate, signed by it, for the
    # names clients use here. P-256 keys: made in milliseconds, and Erlang's ssl takes them.
    command -v openssl >/dev/null || die "--tls needs openssl (apt-get install openssl)"
    T="$DIR/tls"
    mkdir -p "$T" && chmod 700 "$T"
    EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${EC[@]}" -keyout "$T/ca.key" -out "$T/ca.pem" -days 30 -subj "/CN=GuestAgent bed CA $AMQP_PORT" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
        || die "openssl could not make the CA"
    openssl req "${EC[@]}" -keyout "$T/server.key" -out "$T/server.csr" -subj "/CN=localhost" 2>/dev/null \
        || die "openssl could not make the server's key"
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$T/server.ext"
    openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -out "$T/server.pem" -days 30 \
        -extfile "$T/server.ext" 2>/dev/null || die "openssl could not sign the server's certificate"
    chmod 600 "$T/ca.key" "$T/server.key"
    # Clients need no certificate of their own (verify_none is about the client's): the broker's is checked by them.
    cat >> "$DIR/rabbitmq.conf" <<CONF
listeners.ssl.default = 127.0.0.1:$AMQPS_PORT
ssl_options.cacertfile = $T/ca.pem
ssl_options.certfile = $T/server.pem
ssl_options.keyfile = $T/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
CONF
fi
chmod 600 "$DIR/rabbitmq.conf"
echo '[].' > "$DIR/enabled_plugins"
: > "$DIR/rabbitmq-env.conf"

# shellcheck source=common.sh
source "$HERE/common.sh"
rmq_env
t0=$(date +%s.%N)
setsid epmd -address 127.0.0.1 -port "$EPMD_PORT" </dev/null >"$DIR/log/epmd.log" 2>&1 &
echo $! > "$DIR/epmd.pid"
if ! start_broker; then
    "$HERE/stop.sh" "$DIR" >/dev/null 2>&1 || true
    # Once more on fresh ports: the free ports picked above are only free when picked, and a node
    # that meets a taken one gives up (its rabbitmqctl says why in log/ctl.log, kept as ctl-1.log).
    if [[ -z "${GA_RABBITMQ_RETRY:-}" && -z "$ARG_AMQP_PORT" ]]; then
        mv "$DIR/log/ctl.log" "$DIR/ctl-1.log" 2>/dev/null || true
        echo "rabbitmq bed: starting once more on other ports" >&2
        GA_RABBITMQ_RETRY=1 exec "$HERE/start.sh" "${ARGS[@]}"
    fi
    exit 1
fi
t1=$(date +%s.%N)

cat > "$DIR/env" <<ENV
RABBITMQ_URL=amqp://$ADMIN_USER:$ADMIN_PASSWORD@127.0.0.1:$AMQP_PORT/
RABBITMQ_AMQP_PORT=$AMQP_PORT
RABBITMQ_NODE=$NODE
RABBITMQ_ADMIN_USER=$ADMIN_USER
RABBITMQ_ADMIN_PASSWORD=$ADMIN_PASSWORD
RABBITMQ_RUN_DIR=$DIR
RABBITMQ_EPMD_PORT=$EPMD_PORT
RABBITMQ_DIST_PORT=$DIST_PORT
RABBITMQ_CTL_PORT=$CTL_PORT
RABBITMQ_START_SECONDS=$("$PY" -c "print(round($t1 - $t0, 1))")
ENV
if (( TLS )); then
    cat >> "$DIR/env" <<ENV
RABBITMQ_AMQPS_PORT=$AMQPS_PORT
RABBITMQ_AMQPS_URL=amqps://$ADMIN_USER:$ADMIN_PASSWORD@localhost:$AMQPS_PORT/
RABBITMQ_CA_FILE=$DIR/tls/ca.pem
ENV
fi
chmod 600 "$DIR/env"
echo "rabbitmq bed on amqp://127.0.0.1:$AMQP_PORT$( (( TLS )) && echo " and amqps://127.0.0.1:$AMQPS_PORT (CA $DIR/tls/ca.pem)") (node $NODE), run dir $DIR" >&2
cat "$DIR/env"
