#!/bin/bash
# unit-env.sh -- prints the environment the package's systemd unit (tools/systemd/guest-agent.service,
# its Environment= lines) gives the agent, as NAME=value words, so that a bench runs a release as
# the package runs it. bench.sh, cold-start.sh and idle-threads.sh use it for the release they
# publish unless AGENT_ENV is set (even empty); for a release given as AGENT= elsewhere:
#   AGENT=/tmp/rel/guest-agent AGENT_ENV="$(tools/bench/unit-env.sh)" tools/bench/amqp-calls.sh 200 1,8,32
set -euo pipefail
sed -n 's/^Environment=//p' "$(dirname "${BASH_SOURCE[0]}")/../systemd/guest-agent.service" | tr '\n' ' ' | sed 's/ *$//'
echo
