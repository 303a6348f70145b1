#!/bin/bash
# restart.sh -- stop the bed's broker (if it runs) and start it again on the same node name,
# ports and data (users, vhosts, permissions and durable queues with their persistent messages
# survive), and wait until it accepts clients. For broker-restart fault tests.
#
# Usage: tools/rabbitmq/restart.sh DIR [--kill] [--down SECONDS]
#   --kill        kill -9 the broker instead of a clean rabbitmqctl stop
#   --down S      stay stopped S seconds before starting again
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:?usage: restart.sh RUN_DIR [--kill] [--down SECONDS]}"; shift
HOW="" DOWN=0
while (( $# )); do
    case "$1" in
        --kill) HOW=kill; shift;;
        --down) DOWN="$2"; shift 2;;
        *) echo "restart.sh: unknown argument $1" >&2; exit 2;;
    esac
done
DIR="$(cd "$DIR" && pwd)"
# shellcheck source=common.sh
source "$HERE/common.sh"
load_env
stop_broker $HOW
sleep "$DOWN"
# epmd normally outlives the broker; start it again if it was stopped too.
if [[ ! -f "$DIR/epmd.pid" ]] || gone "$(cat "$DIR/epmd.pid")"; then
    setsid epmd -address 127.0.0.1 -port "$EPMD_PORT" </dev/null >>"$DIR/log/epmd.log" 2>&1 &
    echo $! > "$DIR/epmd.pid"
fi
start_broker
