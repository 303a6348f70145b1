#!/bin/bash
# occ.sh start DIR | stop DIR -- Heat's os-collect-config (Debian python3-os-collect-config)
# polling a Zaqar queue with its zaqar collector, on the keystone bed (tools/keystone): the
# collector logs in to keystone as a tenant user and finds Zaqar in the service catalog
# (service type messaging, which tools/keystone/provision.py registers).
# Settings: collectors = zaqar, command = /bin/true (os-collect-config only polls when it has a
# command), polling-interval 30 s and min-polling-interval 1 s (the package defaults), queue
# occ-bench of tenant-a, no TLS. Writes DIR/env (OCC_PID, KEYSTONE_RUN_DIR ...).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
CMD="${1:?usage: occ.sh start|stop DIR}"; DIR="${2:?usage: occ.sh start|stop DIR}"
case "$CMD" in
start)
    mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
    "$ROOT/tools/keystone/start.sh" --dir "$DIR/keystone" >/dev/null
    set -a; source "$DIR/keystone/env"; set +a
    mkdir -p "$DIR/occ"
    cat > "$DIR/occ/os-collect-config.conf" <<CONF
[DEFAULT]
command = /bin/true
collectors = zaqar
cachedir = $DIR/occ/cache
backup_cachedir = $DIR/occ/backup-cache
polling_interval = 30
min_polling_interval = 1
[zaqar]
auth_url = $KEYSTONE_URL
user_id = $TENANT_A_USER_ID
password = $TENANT_A_PASSWORD
project_id = $TENANT_A_PROJECT_ID
queue_id = occ-bench
region_name = $KEYSTONE_REGION
ssl_certificate_validation = false
CONF
    setsid /usr/bin/python3 /usr/bin/os-collect-config --config-file "$DIR/occ/os-collect-config.conf" \
        </dev/null >"$DIR/occ/occ.log" 2>&1 &
    echo $! > "$DIR/occ.pid"
    { echo "OCC_PID=$(cat "$DIR/occ.pid")"; echo "OCC_KEYSTONE_DIR=$DIR/keystone"; } > "$DIR/env"
    cat "$DIR/env"
    ;;
stop)
    [[ -d "$DIR" ]] || exit 0
    DIR="$(cd "$DIR" && pwd)"
    if [[ -f "$DIR/occ.pid" ]]; then
        pid="$(cat "$DIR/occ.pid")"
        if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q os-collect-config; then
            kill -TERM "$pid"; sleep 0.5; kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$DIR/occ.pid"
    fi
    [[ -d "$DIR/keystone" ]] && "$ROOT/tools/keystone/stop.sh" "$DIR/keystone" >/dev/null 2>&1 || true
    ;;
*) echo "usage: occ.sh start|stop DIR" >&2; exit 2;;
esac
