#!/bin/bash
# start.sh -- a throw-away PostgreSQL on 127.0.0.1 for the journal tests (and for trying the
# agent's postgresql journal by hand).
#
# Usage: tools/postgres/start.sh --dir DIR [--port N]
# Installs Debian's postgresql if missing, creates a cluster in DIR/data (owned by the postgres
# user: the server refuses to run as root), starts it on a free loopback port with trust auth
# for local connections only, creates database "guestagent", and prints DIR/env:
#   PG_PORT, PG_CONNECTION (an Npgsql connection string), PG_DIR
# Stop with tools/postgres/stop.sh DIR.
set -euo pipefail
DIR="" PORT=""
while (( $# )); do
    case "$1" in
        --dir) DIR="$2"; shift 2;;
        --port) PORT="$2"; shift 2;;
        *) echo "start.sh: unknown argument $1" >&2; exit 2;;
    esac
done
[[ -n "$DIR" ]] || { echo "start.sh: --dir is required" >&2; exit 2; }

"$(dirname "${BASH_SOURCE[0]}")/install.sh"
BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
[[ -n "$PORT" ]] || PORT="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
AS=()
if [[ "$(id -u)" == 0 ]]; then
    chown postgres:postgres "$DIR"
    AS=(runuser -u postgres --)
fi
"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync >"$DIR/initdb.log" 2>&1 \
    || { echo "postgres: initdb failed, see $DIR/initdb.log" >&2; exit 1; }
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off" start >/dev/null \
    || { echo "postgres: server did not start, see $DIR/server.log" >&2; exit 1; }
"${AS[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres guestagent
cat > "$DIR/env" <<ENV
PG_PORT=$PORT
PG_CONNECTION=Host=127.0.0.1;Port=$PORT;Database=guestagent;Username=postgres
PG_DIR=$DIR
ENV
echo "postgres on 127.0.0.1:$PORT (data $DIR/data)" >&2
cat "$DIR/env"
