#!/bin/bash
# stop.sh DIR -- stop the PostgreSQL that start.sh started in DIR (fast shutdown).
set -uo pipefail
DIR="${1:?usage: stop.sh DIR}"
[[ -f "$DIR/data/postmaster.pid" ]] || exit 0
BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")"
AS=(); [[ "$(id -u)" == 0 ]] && AS=(runuser -u postgres --)
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
