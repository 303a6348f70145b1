#!/bin/bash
# install.sh -- make this machine able to run the win-x64 agent under Wine (Debian's wine64).
# Installs wine64 and wine only when missing. Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
WANT=(wine64 wine)
SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
missing=()
for p in "${WANT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
    echo "wine: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v wine >/dev/null || { echo "wine: 'wine' is not on PATH after installing ${WANT[*]}" >&2; exit 1; }
