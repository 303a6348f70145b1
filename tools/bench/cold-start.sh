#!/bin/bash
# cold-start.sh [RUNS] -- cold start of the agent: RUNS fresh agent processes, each on an empty state
# directory with one binding on a uwsgi Zaqar bed of its own, and a call (`exec true`) posted before
# each process starts. Prints, per run and as p50/p95, the time from the process start to its first
# claim answered (the agent's "ready" line; the claim went out before it), to its ledger recovered
# and to the call's final reply. Not part of the test suite; tools/bench/bench.sh runs the same
# workload (quick 5 runs, full 20) into its table. BENCH_JSON=FILE also writes the JSON lines.
# The agent is published as tools/package.sh releases it (self-contained, ReadyToRun); AGENT=PATH
# starts that binary instead (another build, e.g. one without ReadyToRun, to compare). The agent gets
# the package unit's environment (tools/bench/unit-env.sh) unless AGENT_ENV="VAR=value ..." says
# otherwise (AGENT_ENV="" runs the binary's defaults).
#   tools/bench/cold-start.sh 10
#   AGENT=/tmp/plain/guest-agent tools/bench/cold-start.sh 10
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${1:-10}"
RUN="$(mktemp -d /tmp/ga-bench.XXXXXX)"; chmod 755 "$RUN"
cleanup() { "$ROOT/tools/zaqar/stop.sh" "$RUN/bed" >/dev/null 2>&1; }
trap cleanup EXIT
"$ROOT/tools/zaqar/install.sh" --uwsgi >/dev/null
"$ROOT/tools/zaqar/start.sh" --no-install --server uwsgi --workers 4 --dir "$RUN/bed" >/dev/null
if [[ -z "${AGENT:-}" ]]; then
    # The agent as released (tools/package.sh): self-contained, with ReadyToRun code.
    dotnet publish -nologo -v q -c Release -r "linux-$(dpkg --print-architecture | sed 's/amd64/x64/')" --self-contained true \
        -p:PublishReadyToRun=true -p:DebugType=none "$ROOT/src/GuestAgent.Agent" -o "$RUN/agent-bin" >/dev/null
    AGENT="$RUN/agent-bin/guest-agent"
fi
dotnet build -nologo -v q -c Release "$ROOT/tools/bench/GuestAgent.Bench" -o "$RUN/bench-bin" >/dev/null
set -a; source "$RUN/bed/env"; set +a
AGENT_ENV="${AGENT_ENV-$("$ROOT/tools/bench/unit-env.sh")}"
echo "agent: $AGENT${AGENT_ENV:+ ($AGENT_ENV)}; load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
ZAQAR_PROJECT=bench BENCH_BED="uwsgi, 4 processes" BENCH_ZAQAR_CONNECTIONS=8 BENCH_AGENT_BIN="$AGENT" BENCH_AGENT_ENV="$AGENT_ENV" \
    "$RUN/bench-bin/GuestAgent.Bench" cold-start "$RUNS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
