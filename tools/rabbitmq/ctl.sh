#!/bin/bash
# ctl.sh -- rabbitmqctl against the bed in DIR (its node, cookie and ports).
# Usage: tools/rabbitmq/ctl.sh DIR COMMAND [ARGS...]   e.g. ctl.sh DIR list_connections user name
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:?usage: ctl.sh RUN_DIR COMMAND [ARGS...]}"; shift
DIR="$(cd "$DIR" && pwd)"
# shellcheck source=common.sh
source "$HERE/common.sh"
load_env
ctl "$@"
