#!/bin/bash
# install.sh -- Debian's cloud-init, for its schema check only (tools/cloud-init/validate.sh).
#
# The cloud-init package is not installed: installed, it would run at every boot of this
# machine and could change its network, hostname and users. Its .deb is fetched with apt
# (`apt-get download`) and unpacked under tools/cloud-init/.cloud-init/ (git-ignored); the Python
# modules it depends on are installed with apt-get as usual (only the missing ones).
# Prints the unpacked directory. Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$HERE/.cloud-init"
WANT=(python3-configobj python3-jinja2 python3-jsonpatch python3-jsonschema python3-netifaces python3-oauthlib
      python3-requests python3-serial python3-yaml)
SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"

missing=()
for p in "${WANT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
    echo "cloud-init check: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f "$DEST/usr/bin/cloud-init" ]]; then
    tmp="$(mktemp -d)"
    chmod 0755 "$tmp"
    ( cd "$tmp" && apt-get download -qq cloud-init >/dev/null 2>&1 ) || {
        $SUDO apt-get update -qq
        ( cd "$tmp" && apt-get download -qq cloud-init >/dev/null )
    } || { echo "cloud-init check: apt-get download cloud-init failed" >&2; rm -rf "$tmp"; exit 1; }
    rm -rf "$DEST"
    dpkg-deb -x "$tmp"/cloud-init_*.deb "$DEST"
    echo "cloud-init check: unpacked cloud-init $(dpkg-deb -f "$tmp"/cloud-init_*.deb Version) into $DEST" >&2
    rm -rf "$tmp"
fi
echo "$DEST"
