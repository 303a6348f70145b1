#!/bin/bash
# run.sh -- the main job: a local Zaqar, a guest-agent serving one tenant on it, and guestctl
# sending it a call and a cast.
#
# Installs what is missing (Debian's zaqar-server, redis-server ...), starts the Zaqar bed on free
# loopback ports, builds the agent and guestctl, starts the agent with a config written to
# tools/zaqar/run/main/agent.conf, then drives it: ping, an exec call, a cast acknowledged and
# followed with status, and the queue's stats. Everything is stopped at the end unless --keep
# is given (then it prints how to reach and stop it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEEP=0; [[ "${1:-}" == "--keep" ]] && KEEP=1
cd "$ROOT"

RUN_DIR="$ROOT/tools/zaqar/run/main"
OUT="$ROOT/artifacts"
mkdir -p "$RUN_DIR"
stop_all() {
    [[ -f "$RUN_DIR/agent.pid" ]] && kill -TERM "$(cat "$RUN_DIR/agent.pid")" 2>/dev/null && sleep 1
    rm -f "$RUN_DIR/agent.pid"
    "$ROOT/tools/zaqar/stop.sh" "$RUN_DIR"
}
[[ -f "$RUN_DIR/zaqar.pid" || -f "$RUN_DIR/agent.pid" ]] && stop_all

"$ROOT/tools/zaqar/install.sh"
echo "== building guest-agent and guestctl"
dotnet build -nologo -v q -c Release src/GuestAgent.Agent -o "$OUT/guest-agent" >/dev/null
dotnet build -nologo -v q -c Release src/GuestAgent.Cli -o "$OUT/guestctl" >/dev/null

"$ROOT/tools/zaqar/start.sh" --dir "$RUN_DIR" --no-install >/dev/null
(( KEEP )) || trap stop_all EXIT
set -a; source "$RUN_DIR/env"; set +a

# The demo agent's signing key, shared with guestctl below (GUESTAGENT_SIGNING_KEYS).
[[ -s "$RUN_DIR/demo.key" ]] || (umask 077; head -c 32 /dev/urandom | base64 > "$RUN_DIR/demo.key")
cat > "$RUN_DIR/agent.conf" <<CONF
guest-agent {
  name = "demo-vm1"
  state-dir = "$RUN_DIR/agent-state"
  tenants {
    demo {
      endpoint = "$ZAQAR_URL"
      project = "demo-project"
      command-queue = "guest-demo-vm1"
      reply-queue = "replies-demo-vm1"
      max-operations = 4
      signing.keys = [{ id = "demo", secret-file = "$RUN_DIR/demo.key" }]
    }
  }
}
CONF
echo "== starting guest-agent (log: $RUN_DIR/agent.log)"
setsid "$OUT/guest-agent/guest-agent" --config "$RUN_DIR/agent.conf" </dev/null >"$RUN_DIR/agent.log" 2>&1 &
echo $! > "$RUN_DIR/agent.pid"

export ZAQAR_PROJECT=demo-project GUESTAGENT_QUEUE=guest-demo-vm1
GUESTAGENT_SIGNING_KEYS="demo=$(cat "$RUN_DIR/demo.key")"; export GUESTAGENT_SIGNING_KEYS
ctl() { echo "\$ guestctl $*"; "$OUT/guestctl/guestctl" "$@"; }

ctl ping
ctl exec -- uname -a
ctl exec --shell 'echo "attempt $GUESTAGENT_ATTEMPT of command $GUESTAGENT_COMMAND_ID"; ls / | head -3'
CAST=$(ctl cast --ack --shell 'sleep 2; date -u > /tmp/guest-agent-demo-cast' | tail -1)
echo "cast $CAST accepted; waiting for it to finish"
for _ in $(seq 1 30); do
    STATUS=$("$OUT/guestctl/guestctl" status "$CAST")
    grep -q '"final_status"' <<<"$STATUS" && break
    sleep 0.5
done
ctl status "$CAST"
ctl queue stats guest-demo-vm1
if (( KEEP )); then
    echo "== left running: ZAQAR_URL=$ZAQAR_URL ZAQAR_PROJECT=$ZAQAR_PROJECT GUESTAGENT_QUEUE=$GUESTAGENT_QUEUE GUESTAGENT_SIGNING_KEYS=\"demo=\$(cat $RUN_DIR/demo.key)\""
    echo "   agent pid $(cat "$RUN_DIR/agent.pid"), log $RUN_DIR/agent.log; stop: kill \$(cat $RUN_DIR/agent.pid); tools/zaqar/stop.sh $RUN_DIR"
fi
