#!/bin/bash
# install.sh -- make this machine able to run the local Zaqar bed.
#
# Installs (only what is missing) Debian's zaqar-server, python3-redis,
# redis-server and python3-zaqarclient, plus uwsgi when --uwsgi is given,
# then puts the Redis driver's two Lua scripts in place: Debian's zaqar 15
# package leaves out zaqar/storage/redis/scripts/{index,claim}_messages.lua,
# and without them every post and claim answers 503.
#
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPTS_DIR=/usr/lib/python3/dist-packages/zaqar/storage/redis/scripts
WANT=(zaqar-server python3-redis redis-server python3-zaqarclient curl)
[[ "${1:-}" == "--uwsgi" ]] && WANT+=(uwsgi-core uwsgi-plugin-python3)

SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"

missing=()
for p in "${WANT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
    echo "zaqar bed: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts the packaged services; the bed runs its own on private ports.
    for svc in zaqar-server redis-server; do
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
fi

for s in index_messages claim_messages; do
    if ! cmp -s "$HERE/$s.lua" "$SCRIPTS_DIR/$s.lua" 2>/dev/null; then
        $SUDO install -D -m 0644 "$HERE/$s.lua" "$SCRIPTS_DIR/$s.lua"
        echo "zaqar bed: installed $SCRIPTS_DIR/$s.lua"
    fi
done
