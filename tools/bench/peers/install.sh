#!/bin/bash
# install.sh -- Debian packages of the benchmark peers (only what is missing):
#   murano-agent + rabbitmq-server   (Murano's agent and its broker)
#   qemu-guest-agent                 (qemu-ga, driven over a unix socket)
#   python3-os-collect-config        (Heat's os-collect-config, Zaqar collector)
#   python3-kombu                    (the bench's AMQP driver, the library Murano uses)
# Packaged services are disabled right after: the bench starts its own copies on private
# 127.0.0.1 ports. Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
WANT=(murano-agent rabbitmq-server qemu-guest-agent python3-os-collect-config python3-kombu)
SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
missing=()
for p in "${WANT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
    echo "bench peers: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for svc in rabbitmq-server murano-agent qemu-guest-agent os-collect-config epmd; do
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
    # rabbitmq-server's postinst leaves the shared epmd (port 4369) running; the bench uses its own.
    epmd -kill >/dev/null 2>&1 || true
fi
