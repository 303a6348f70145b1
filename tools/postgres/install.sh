#!/bin/bash
# install.sh -- install Debian's PostgreSQL server if missing (for the journal-on-PostgreSQL tests).
set -euo pipefail
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0
SUDO=""; [[ "$(id -u)" == 0 ]] || SUDO="sudo"
echo "postgres: installing postgresql" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian starts its own cluster on 5432; the tests run their own.
$SUDO systemctl disable --now postgresql >/dev/null 2>&1 || $SUDO service postgresql stop >/dev/null 2>&1 || true
