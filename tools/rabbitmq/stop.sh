#!/bin/bash
# stop.sh -- stop the bed started by start.sh from run directory DIR: the broker (a clean
# rabbitmqctl stop, then TERM/KILL), then its epmd. Kills only the pids recorded in DIR, after
# checking each still is the program it was. The data stays in DIR (restart.sh starts it again).
#
# Usage: tools/rabbitmq/stop.sh DIR [broker|epmd ...]   (default: both)
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:?usage: stop.sh RUN_DIR [broker|epmd ...]}"; shift
[[ -d "$DIR" ]] || exit 0
DIR="$(cd "$DIR" && pwd)"
PARTS=("$@"); (( ${#PARTS[@]} )) || PARTS=(broker epmd)
# shellcheck source=common.sh
source "$HERE/common.sh"
for part in "${PARTS[@]}"; do
    case "$part" in
        broker)
            if [[ -f "$DIR/env" ]]; then load_env; stop_broker
            else stop_pid "$DIR/beam.pid" beam; stop_pid "$DIR/server.pid" rabbitmq; fi;;
        epmd) stop_pid "$DIR/epmd.pid" epmd;;
        *) echo "stop.sh: unknown part $part" >&2; exit 2;;
    esac
done
exit 0
