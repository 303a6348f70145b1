#!/bin/bash
# murano.sh start DIR | start-agent DIR | stop DIR -- Murano's agent (Debian murano-agent 10.0.0)
# on its own RabbitMQ (Debian rabbitmq-server, the tools/rabbitmq bed in DIR/rabbitmq), everything on
# private 127.0.0.1 ports, state under DIR.
#   start: the RabbitMQ bed, the agent's queues declared as murano-engine declares them, the agent;
#          writes DIR/env (AMQP_PORT, AMQP_USER, AMQP_PASSWORD, MURANO_INPUT_QUEUE, MURANO_RESULT_QUEUE, pids).
#   start-agent: the agent alone, exactly as start starts it (same config, storage, cwd), and
#          returns at once: the recovery workload's restart after kill -9 (DIR/agent.pid is new).
#   stop:  stops exactly the processes started here (pid files in DIR).
# Settings (all recorded in docs/performance.md):
#   RabbitMQ 3.10.8 as tools/rabbitmq/start.sh runs it: as root from its versioned sbin/ (the
#   /usr/sbin wrapper would su to the rabbitmq user and use /var/lib/rabbitmq), node
#   ga_bed_<amqp-port>@localhost, a private epmd, AMQP, distribution and CLI ports all on
#   127.0.0.1, no plugins, disk_free_limit 50MB; the bed's administrator (random password; no
#   guest user) on vhost /, since the agent publishes its results through the default exchange.
#   Agent: unsigned (engine_key unset: signing is broken on Python 3 in 10.0.0), results to the
#   fixed queue -execution-results-bench, input queue e-bench-h-agent1, debug off.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3
CMD="${1:?usage: murano.sh start|start-agent|stop DIR}"; DIR="${2:?usage: murano.sh start|start-agent|stop DIR}"
RMQ_BED="$(cd "$HERE/../../rabbitmq" && pwd)"

# Gone: no such process, or a zombie (setsid'ed processes are reaped by init, which may take seconds).
gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(sed -E 's/^.*\) ([A-Z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" == Z ]]; }
stop_pid() { # pidfile cmdline-substring
    local pid
    [[ -f "$1" ]] || return 0
    pid="$(cat "$1")"
    if ! gone "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$2"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do gone "$pid" && break; sleep 0.1; done
        gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

# The agent: in the background, its cwd the agent directory (the plans' scripts run there).
start_agent() {
    (cd "$DIR/agent" && exec setsid "$PY" "$HERE/muranoagent-py3fix.py" --config-file "$DIR/agent/muranoagent.conf" \
        </dev/null >>"$DIR/agent/stdout.log" 2>&1) &
    echo $! > "$DIR/agent.pid"
}

case "$CMD" in
start)
    mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
    rm -rf "$DIR/rabbitmq" "$DIR/agent"
    mkdir -p "$DIR/agent/storage"
    "$RMQ_BED/start.sh" --dir "$DIR/rabbitmq" --no-install >/dev/null \
        || { echo "murano bed: RabbitMQ did not start, see $DIR/rabbitmq/log" >&2; exit 1; }
    # shellcheck disable=SC1091
    source "$DIR/rabbitmq/env"
    AMQP_PORT=$RABBITMQ_AMQP_PORT AMQP_USER=$RABBITMQ_ADMIN_USER AMQP_PASSWORD=$RABBITMQ_ADMIN_PASSWORD
    cat > "$DIR/env" <<ENV
AMQP_PORT=$AMQP_PORT
AMQP_USER=$AMQP_USER
AMQP_PASSWORD=$AMQP_PASSWORD
MURANO_INPUT_QUEUE=e-bench-h-agent1
MURANO_RESULT_QUEUE=-execution-results-bench
MURANO_DIR=$DIR
ENV
    AMQP_PORT=$AMQP_PORT AMQP_USER=$AMQP_USER AMQP_PASSWORD=$AMQP_PASSWORD "$PY" "$HERE/drivers.py" murano-declare
    cat > "$DIR/agent/muranoagent.conf" <<CONF
[DEFAULT]
debug = false
log_file = $DIR/agent/muranoagent.log
storage = $DIR/agent/storage
[rabbitmq]
host = 127.0.0.1
port = $AMQP_PORT
login = $AMQP_USER
password = $AMQP_PASSWORD
virtual_host = /
ssl = false
input_queue = e-bench-h-agent1
result_exchange =
result_routing_key = -execution-results-bench
CONF
    start_agent
    for _ in $(seq 1 300); do
        "$RMQ_BED/ctl.sh" "$DIR/rabbitmq" list_queues name consumers 2>/dev/null \
            | awk '$1=="e-bench-h-agent1" && $2>0 {ok=1} END {exit !ok}' && break
        kill -0 "$(cat "$DIR/agent.pid")" 2>/dev/null || { echo "murano bed: the agent exited, see $DIR/agent" >&2; exit 1; }
        sleep 0.2
    done
    echo "MURANO_AGENT_PID=$(cat "$DIR/agent.pid")" >> "$DIR/env"
    echo "RABBITMQ_PID=$(cat "$DIR/rabbitmq/beam.pid")" >> "$DIR/env"
    cat "$DIR/env"
    ;;
start-agent)
    DIR="$(cd "$DIR" && pwd)"
    start_agent
    ;;
stop)
    [[ -d "$DIR" ]] || exit 0
    DIR="$(cd "$DIR" && pwd)"
    stop_pid "$DIR/agent.pid" muranoagent
    "$RMQ_BED/stop.sh" "$DIR/rabbitmq"
    ;;
*) echo "usage: murano.sh start|start-agent|stop DIR" >&2; exit 2;;
esac
