#!/bin/bash
# run.sh -- the main job: start a local Zaqar bed on 127.0.0.1 and drive it with guestctl.
#
# Installs what is missing (Debian's zaqar-server, redis-server ...), starts the bed on free
# loopback ports, builds guestctl, then walks a guest's queue through its life: create with a
# dead-letter queue, post, claim and delete, mint a pre-signed URL, show stats. The bed is
# stopped at the end unless --keep is given (then its env file is printed for reuse).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEEP=0; [[ "${1:-}" == "--keep" ]] && KEEP=1
cd "$ROOT"

"$ROOT/tools/zaqar/install.sh"
RUN_DIR="$ROOT/tools/zaqar/run/main"
[[ -f "$RUN_DIR/zaqar.pid" ]] && "$ROOT/tools/zaqar/stop.sh" "$RUN_DIR"
"$ROOT/tools/zaqar/start.sh" --dir "$RUN_DIR" --no-install >/dev/null
(( KEEP )) || trap '"$ROOT/tools/zaqar/stop.sh" "$RUN_DIR"' EXIT
set -a; source "$RUN_DIR/env"; set +a
export ZAQAR_PROJECT=demo-project

echo "== building guestctl"
dotnet build -nologo -v q -c Release src/GuestAgent.Cli -o "$ROOT/artifacts/guestctl" >/dev/null
ctl() { echo "\$ guestctl $*"; "$ROOT/artifacts/guestctl/guestctl" "$@"; }

echo "== Zaqar on $ZAQAR_URL"
ctl queue ping
ctl queue create guest-vm1-dlq
ctl queue create guest-vm1 --max-claim-count 5 --dead-letter-queue guest-vm1-dlq
ctl queue post guest-vm1 '{"op":"ping","note":"hello from run.sh"}'
ctl queue post guest-vm1 '{"op":"exec","argv":["uname","-a"]}'
ctl queue stats guest-vm1
ctl queue claim guest-vm1 --limit 5
ctl queue stats guest-vm1
ctl queue share guest-vm1 --path messages claims --method GET POST PATCH DELETE --hours 1
if (( KEEP )); then echo "== bed left running; its settings:"; cat "$RUN_DIR/env"; echo "stop with: tools/zaqar/stop.sh $RUN_DIR"; fi
