#!/bin/bash
# install.sh -- make this machine able to run the local RabbitMQ bed: Debian's rabbitmq-server
# (and the python3 the scripts use), only what is missing. Debian starts the packaged broker and
# the shared epmd on 4369; both are stopped and the service disabled: the bed runs its own broker
# and epmd on private 127.0.0.1 ports.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
WANT=(rabbitmq-server python3 openssl)
SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
missing=()
for p in "${WANT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
    echo "rabbitmq bed: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for svc in rabbitmq-server epmd; do
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
    # The package's postinst leaves the shared epmd (port 4369) running; the bed uses its own.
    epmd -kill >/dev/null 2>&1 || true
fi
