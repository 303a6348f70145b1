#!/bin/bash
# murano.sh start DIR | start-agent DIR | stop DIR -- Murano's agent (Debian murano-agent 10.0.0)
# on its own RabbitMQ (Debian rabbitmq-server), everything on private 127.0.0.1 ports, state under DIR.
#   start: epmd, RabbitMQ, the agent's queues declared as murano-engine declares them, the agent;
#          writes DIR/env (AMQP_PORT, MURANO_INPUT_QUEUE, MURANO_RESULT_QUEUE, pids).
#   start-agent: the agent alone, exactly as start starts it (same config, storage, cwd), and
#          returns at once: the recovery workload's restart after kill -9 (DIR/agent.pid is new).
#   stop:  stops exactly the processes started here (pid files in DIR).
# Settings (all recorded in docs/performance.md):
#   RabbitMQ 3.10.8 run as root from its versioned sbin/ (the /usr/sbin wrapper would su to the
#   rabbitmq user and use /var/lib/rabbitmq), node murano_bench@localhost, a private epmd,
#   AMQP, distribution and CLI ports all on 127.0.0.1, no plugins, guest/guest on vhost /.
#   Agent: unsigned (engine_key unset: signing is broken on Python 3 in 10.0.0), results to the
#   fixed queue -execution-results-bench, input queue e-bench-h-agent1, debug off.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3
CMD="${1:?usage: murano.sh start|start-agent|stop DIR}"; DIR="${2:?usage: murano.sh start|start-agent|stop DIR}"
RMQ_SBIN="$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin | sort -V | tail -1)"
NODE=murano_bench@localhost

rmq_env() {
    export HOME="$DIR/rabbitmq/home" RABBITMQ_NODENAME=$NODE ERL_EPMD_PORT="$EPMD_PORT" \
        RABBITMQ_DIST_PORT="$DIST_PORT" RABBITMQ_CTL_DIST_PORT_MIN="$CTL_PORT" RABBITMQ_CTL_DIST_PORT_MAX="$((CTL_PORT + 10))" \
        RABBITMQ_MNESIA_BASE="$DIR/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$DIR/rabbitmq/log" \
        RABBITMQ_CONFIG_FILE="$DIR/rabbitmq/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/rabbitmq/enabled_plugins" \
        RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq/rabbitmq-env.conf" RABBITMQ_PID_FILE="$DIR/rabbitmq/rabbitmq.pid" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
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
    read -r AMQP_PORT DIST_PORT CTL_PORT EPMD_PORT < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')
    rm -rf "$DIR/rabbitmq" "$DIR/agent"
    mkdir -p "$DIR/rabbitmq/home" "$DIR/rabbitmq/log" "$DIR/agent/storage"
    head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/rabbitmq/home/.erlang.cookie"
    chmod 400 "$DIR/rabbitmq/home/.erlang.cookie"
    cat > "$DIR/rabbitmq/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
disk_free_limit.absolute = 50MB
CONF
    echo '[].' > "$DIR/rabbitmq/enabled_plugins"
    : > "$DIR/rabbitmq/rabbitmq-env.conf"
    rmq_env
    setsid epmd -address 127.0.0.1 -port "$EPMD_PORT" </dev/null >"$DIR/rabbitmq/epmd.log" 2>&1 &
    echo $! > "$DIR/epmd.pid"
    setsid "$RMQ_SBIN/rabbitmq-server" </dev/null >"$DIR/rabbitmq/server.out" 2>&1 &
    echo $! > "$DIR/rabbitmq-wrapper.pid"
    "$RMQ_SBIN/rabbitmqctl" -n $NODE wait --timeout 120 "$RABBITMQ_PID_FILE" >/dev/null 2>&1 \
        || { echo "murano bed: RabbitMQ did not start, see $DIR/rabbitmq" >&2; exit 1; }
    "$RMQ_SBIN/rabbitmqctl" -n $NODE await_startup >/dev/null 2>&1
    cat > "$DIR/env" <<ENV
AMQP_PORT=$AMQP_PORT
DIST_PORT=$DIST_PORT
CTL_PORT=$CTL_PORT
EPMD_PORT=$EPMD_PORT
MURANO_INPUT_QUEUE=e-bench-h-agent1
MURANO_RESULT_QUEUE=-execution-results-bench
MURANO_DIR=$DIR
ENV
    AMQP_PORT=$AMQP_PORT "$PY" "$HERE/drivers.py" murano-declare
    cat > "$DIR/agent/muranoagent.conf" <<CONF
[DEFAULT]
debug = false
log_file = $DIR/agent/muranoagent.log
storage = $DIR/agent/storage
[rabbitmq]
host = 127.0.0.1
port = $AMQP_PORT
login = guest
password = guest
virtual_host = /
ssl = false
input_queue = e-bench-h-agent1
result_exchange =
result_routing_key = -execution-results-bench
CONF
    start_agent
    for _ in $(seq 1 300); do
        "$RMQ_SBIN/rabbitmqctl" -n $NODE list_queues -q name consumers 2>/dev/null \
            | awk '$1=="e-bench-h-agent1" && $2>0 {ok=1} END {exit !ok}' && break
        kill -0 "$(cat "$DIR/agent.pid")" 2>/dev/null || { echo "murano bed: the agent exited, see $DIR/agent" >&2; exit 1; }
        sleep 0.2
    done
    echo "MURANO_AGENT_PID=$(cat "$DIR/agent.pid")" >> "$DIR/env"
    echo "RABBITMQ_PID=$(cat "$DIR/rabbitmq/rabbitmq.pid")" >> "$DIR/env"
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
    if [[ -f "$DIR/env" ]]; then
        source "$DIR/env"; rmq_env
        "$RMQ_SBIN/rabbitmqctl" -n $NODE stop >/dev/null 2>&1 || true
        [[ -f "$DIR/rabbitmq/rabbitmq.pid" ]] && cp "$DIR/rabbitmq/rabbitmq.pid" "$DIR/beam.pid" && stop_pid "$DIR/beam.pid" beam
    fi
    stop_pid "$DIR/rabbitmq-wrapper.pid" rabbitmq
    stop_pid "$DIR/epmd.pid" epmd
    ;;
*) echo "usage: murano.sh start|start-agent|stop DIR" >&2; exit 2;;
esac
