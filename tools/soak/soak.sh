#!/bin/bash
# soak.sh -- GuestAgent under load and faults, with an accounting of every command's effects.
# Builds the agent and the soak tool (Release), installs the Zaqar bed's Debian packages if
# needed, and runs the soak; the soak starts its own Zaqar bed (Redis with an fsynced append-only
# file) and agent on 127.0.0.1 and stops them at the end. Not part of the test suite (its short
# mode is: tests/GuestAgent.Agent.Tests/Soak).
#   tools/soak/soak.sh --duration 30m --seed 42
#   tools/soak/soak.sh --short
#   tools/soak/soak.sh --duration 10m --rate 5 --faults agent-kill,zaqar-restart --json /tmp/soak.json
# Arguments (all optional): --duration (90s, 30m, 1h; default 5m) --commands N (stop sending after
# N) --rate R (per second, default 3) --seed N --short (the CI mode: ~2 minutes) --faults LIST
# (agent-kill, zaqar-restart, redis-restart, agent-pause, disk-full, or none) --work DIR --json FILE.
# Exit code: 0 nothing lost and no unexplained duplicate; 1 the accounting found a problem.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$ROOT/tools/zaqar/install.sh" >/dev/null
# In place (not -o): the soak finds the agent at src/GuestAgent.Agent/bin/Release/net10.0.
dotnet build -nologo -v q -c Release "$ROOT/src/GuestAgent.Agent" >/dev/null
dotnet build -nologo -v q -c Release "$ROOT/tools/soak/GuestAgent.Soak" >/dev/null
exec dotnet "$ROOT/tools/soak/GuestAgent.Soak/bin/Release/net10.0/GuestAgent.Soak.dll" "$@"
