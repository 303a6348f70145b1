# common.sh -- sourced by the bed's scripts: the broker's environment for run directory $DIR.
# Needs DIR, NODE, EPMD_PORT, DIST_PORT, CTL_PORT (from DIR/env, or set by start.sh).
RMQ_SBIN="$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin 2>/dev/null | sort -V | tail -1)"
[[ -n "$RMQ_SBIN" ]] || { echo "rabbitmq bed: rabbitmq-server is not installed (tools/rabbitmq/install.sh)" >&2; exit 1; }

# Everything the server and the CLI tools read: a private HOME (its .erlang.cookie is the
# node's), node name, epmd port, distribution and CLI ports on 127.0.0.1, state under DIR.
# The CLI tools read the same variables to find the node, so ctl() needs them too.
rmq_env() {
    export HOME="$DIR/home" RABBITMQ_NODENAME="$NODE" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_DIST_PORT="$DIST_PORT" RABBITMQ_CTL_DIST_PORT_MIN="$CTL_PORT" RABBITMQ_CTL_DIST_PORT_MAX="$((CTL_PORT + 10))" \
        RABBITMQ_MNESIA_BASE="$DIR/mnesia" RABBITMQ_LOG_BASE="$DIR/log" \
        RABBITMQ_CONFIG_FILE="$DIR/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins" \
        RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf" RABBITMQ_PID_FILE="$DIR/beam.pid" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
# rabbitmqctl on the bed's node. Never without the bed's epmd: an Erlang node that finds no epmd
# on its port starts one (epmd -daemon) that outlives it, and nothing would stop that one.
ctl() {
    if [[ ! -f "$DIR/epmd.pid" ]] || gone "$(cat "$DIR/epmd.pid")"; then
        echo "rabbitmq bed: the bed's epmd is not running ($DIR/epmd.pid); rabbitmqctl not run" >&2
        return 1
    fi
    "$RMQ_SBIN/rabbitmqctl" -q -n "$NODE" "$@"
}

# Gone: no such process, or a zombie (setsid'ed processes are reaped by init, which may take a moment).
gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(sed -E 's/^.*\) ([A-Z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" == Z ]]; }
# stop_pid PIDFILE CMDLINE-SUBSTRING [SIGNAL]: only if the pid still is that program (a recycled
# pid is left alone); SIGNAL (default TERM), then KILL after 10 s.
stop_pid() {
    local pid
    [[ -f "$1" ]] || return 0
    pid="$(cat "$1")"
    if ! gone "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"; then
        kill "-${3:-TERM}" "$pid" 2>/dev/null
        for _ in $(seq 1 100); do gone "$pid" && break; sleep 0.1; done
        gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

# Starts the broker (after epmd runs) and waits until it accepts AMQP clients.
start_broker() {
    rmq_env
    rm -f "$DIR/beam.pid"
    setsid "$RMQ_SBIN/rabbitmq-server" </dev/null >>"$DIR/log/server.out" 2>&1 &
    echo $! > "$DIR/server.pid"
    # `wait PIDFILE` returns once the pid file exists and the rabbit application runs.
    if ! ctl wait --timeout 120 "$DIR/beam.pid" >>"$DIR/log/ctl.log" 2>&1 || ! ctl await_startup >>"$DIR/log/ctl.log" 2>&1; then
        echo "rabbitmq bed: the broker did not start, see $DIR/log" >&2
        return 1
    fi
}

# Stops the broker: rabbitmqctl stop (a clean shutdown), or kill -9 with "kill".
stop_broker() {
    rmq_env
    if [[ "${1:-}" == kill ]]; then
        stop_pid "$DIR/beam.pid" beam KILL
    else
        ctl stop >/dev/null 2>&1 || true
        stop_pid "$DIR/beam.pid" beam
    fi
    stop_pid "$DIR/server.pid" rabbitmq
}

# Reads DIR/env (written by start.sh) into the variables above.
load_env() {
    [[ -f "$DIR/env" ]] || { echo "rabbitmq bed: $DIR is not a bed's run directory (no env file)" >&2; exit 1; }
    local k v
    while IFS='=' read -r k v; do
        case "$k" in
            RABBITMQ_NODE) NODE="$v";; RABBITMQ_EPMD_PORT) EPMD_PORT="$v";;
            RABBITMQ_DIST_PORT) DIST_PORT="$v";; RABBITMQ_CTL_PORT) CTL_PORT="$v";;
            RABBITMQ_AMQP_PORT) AMQP_PORT="$v";; RABBITMQ_ADMIN_USER) ADMIN_USER="$v";;
        esac
    done < "$DIR/env"
    rmq_env
}
