#!/bin/bash
# install.sh -- make this machine able to run the local keystone + Zaqar bed.
#
# First runs tools/zaqar/install.sh (zaqar-server, redis, python3-redis and the
# Redis driver's two Lua scripts that Debian's zaqar 15 leaves out), then
# installs (only what is missing) Debian's keystone, uwsgi with its python3
# plugin (keystone is served by uwsgi) and keystonemiddleware (zaqar's
# auth_token filter).
#
# Debian's keystone postinst would start uwsgi as `keystone` on port 5000 on
# ALL interfaces: the install runs under a policy-rc.d that refuses service
# starts, and the service is disabled afterwards. The bed never uses
# /etc/keystone or the packaged service.
#
# Idempotent and quiet when everything is there; needs root (or sudo) only
# when something is missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/../zaqar/install.sh"

WANT=(keystone python3-keystonemiddleware uwsgi-core uwsgi-plugin-python3 curl)

SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"

missing=()
for p in "${WANT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
(( ${#missing[@]} )) || exit 0

echo "keystone bed: installing ${missing[*]}" >&2
# No database, admin or endpoint set-up by the package (these are the defaults; say so anyway).
printf '%s\n' 'keystone keystone/configure_db boolean false' \
    'keystone keystone/create-admin-tenant boolean false' \
    'keystone keystone/register-endpoint boolean false' | $SUDO debconf-set-selections
POLICY_RC=/usr/sbin/policy-rc.d
if [[ ! -e "$POLICY_RC" ]]; then
    # refuse every service start during this install only (exit code 101 = "action forbidden")
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY_RC" >/dev/null
    $SUDO chmod 0755 "$POLICY_RC"
    trap '$SUDO rm -f "$POLICY_RC"' EXIT
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
$SUDO systemctl disable --now keystone >/dev/null 2>&1 || $SUDO service keystone stop >/dev/null 2>&1 || true
