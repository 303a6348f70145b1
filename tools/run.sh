#!/bin/bash
# run.sh -- the main job: a local Zaqar, a guest-agent serving one tenant on it, and guestctl
# sending it a call and a cast.
#
# Usage: tools/run.sh [--keep] [--dir DIR]     tools/run.sh --stop [--dir DIR]
#
# Installs what is missing (Debian's zaqar-server, redis-server ...), starts the Zaqar bed on free
# loopback ports, builds the agent and guestctl into artifacts/, starts the agent with a config
# written to DIR/agent.conf (default DIR: tools/zaqar/run/main), then drives it: ping, an exec
# call, a cast acknowledged and followed with status, and the queue's stats. Everything is
# stopped at the end unless --keep is given; then DIR/guestctl.env holds the variables guestctl
# needs (`source` it) and `tools/run.sh --stop` stops it all. The demo agent may read and write
# files under DIR/files only (its file-roots).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEEP=0 STOP=0 RUN_DIR="$ROOT/tools/zaqar/run/main"
while (( $# )); do
    case "$1" in
        --keep) KEEP=1; shift;;
        --stop) STOP=1; shift;;
        --dir) RUN_DIR="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
        *) echo "run.sh: unknown argument $1 (see tools/run.sh --help)" >&2; exit 2;;
    esac
done
cd "$ROOT"

OUT="$ROOT/artifacts"
mkdir -p "$RUN_DIR"
# Only the agent this script started: a pid recycled by another program is left alone (as stop.sh does).
stop_agent() {
    local pid
    [[ -f "$RUN_DIR/agent.pid" ]] || return 0
    pid="$(cat "$RUN_DIR/agent.pid")"
    if kill -0 "$pid" 2>/dev/null; then
        if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "guest-agent"; then
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        else
            echo "guest-agent: pid $pid is no longer guest-agent, left alone" >&2
        fi
    fi
    rm -f "$RUN_DIR/agent.pid"
}
stop_all() {
    stop_agent
    "$ROOT/tools/zaqar/stop.sh" "$RUN_DIR"
    rm -f "$RUN_DIR/guestctl.env"
}
if (( STOP )); then stop_all; echo "stopped the demo in $RUN_DIR"; exit 0; fi
[[ -f "$RUN_DIR/zaqar.pid" || -f "$RUN_DIR/agent.pid" ]] && stop_all

"$ROOT/tools/zaqar/install.sh"
# dotnet build -v q is silent until it ends: say what is going on and how long it took. Skipped
# when the build is newer than every source, so that a second run starts in seconds.
build() { # name project
    local started=$SECONDS
    if [[ -f "$OUT/$1/$1.dll" && -z "$(find src hocon Directory.Build.props Directory.Packages.props -newer "$OUT/$1/$1.dll" -print -quit)" ]]; then
        echo "== $1 is up to date: $OUT/$1/$1"
        return
    fi
    echo "== building $1 (the first build restores packages and takes about a minute; later ones a few seconds)"
    dotnet build -nologo -v q -c Release "$2" -o "$OUT/$1" >/dev/null
    echo "   $1 built in $((SECONDS - started)) s: $OUT/$1/$1"
}
build guest-agent src/GuestAgent.Agent
build guestctl src/GuestAgent.Cli

"$ROOT/tools/zaqar/start.sh" --dir "$RUN_DIR" --no-install >/dev/null
(( KEEP )) || trap stop_all EXIT
set -a; source "$RUN_DIR/env"; set +a

# The demo agent's signing key, shared with guestctl below (GUESTAGENT_SIGNING_KEYS).
[[ -s "$RUN_DIR/demo.key" ]] || (umask 077; head -c 32 /dev/urandom | base64 > "$RUN_DIR/demo.key")
mkdir -p "$RUN_DIR/files"
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
      file-roots = ["$RUN_DIR/files"]
      signing.keys = [{ id = "demo", secret-file = "$RUN_DIR/demo.key" }]
    }
  }
}
CONF
echo "== starting guest-agent (log: $RUN_DIR/agent.log)"
setsid "$OUT/guest-agent/guest-agent" --config "$RUN_DIR/agent.conf" </dev/null >"$RUN_DIR/agent.log" 2>&1 &
echo $! > "$RUN_DIR/agent.pid"

# What guestctl needs, as lines a shell can source; the key is read from its file when sourced.
(umask 077; cat > "$RUN_DIR/guestctl.env" <<ENV
export ZAQAR_URL=$ZAQAR_URL ZAQAR_PROJECT=demo-project GUESTAGENT_QUEUE=guest-demo-vm1
export GUESTAGENT_SIGNING_KEYS="demo=\$(cat $RUN_DIR/demo.key)"
export DEMO_FILES=$RUN_DIR/files
ENV
)
source "$RUN_DIR/guestctl.env"
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
    STOP_ARGS=""; [[ "$RUN_DIR" == "$ROOT/tools/zaqar/run/main" ]] || STOP_ARGS=" --dir $RUN_DIR"
    echo "== left running (agent pid $(cat "$RUN_DIR/agent.pid"), log $RUN_DIR/agent.log; files: $RUN_DIR/files). For guestctl:"
    echo "source $RUN_DIR/guestctl.env"
    echo "== stop it with: tools/run.sh --stop$STOP_ARGS"
fi
