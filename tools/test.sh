#!/bin/bash
# test.sh -- the project's test command: everything from a fresh clone on a fresh machine.
#
# Installs what the tests need (Debian's zaqar-server, redis-server, keystone, rabbitmq-server, wine ...), starts one local
# Zaqar bed, one keystone-authenticated Zaqar bed with its WebSocket server (tools/keystone) and one RabbitMQ
# (tools/rabbitmq, with its amqps listener) for the whole run (tests keep apart by project id and queue name, on RabbitMQ by tenants
# and guests of their own), builds, runs every test project, stops the beds, and ends
# with one line of totals over all projects:
#   N passed, N failed, N skipped
# Extra arguments go to `dotnet test` (e.g. --filter FullyQualifiedName~Claim).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/guestagent-test.XXXXXX")"
BED="$WORK/bed"
KEYSTONE_BED="$WORK/keystone-bed"
RABBIT_BED="$WORK/rabbitmq-bed"
cleanup() {
    "$ROOT/tools/zaqar/stop.sh" "$BED" >/dev/null 2>&1
    "$ROOT/tools/keystone/stop.sh" "$KEYSTONE_BED" >/dev/null 2>&1
    "$ROOT/tools/rabbitmq/stop.sh" "$RABBIT_BED" >/dev/null 2>&1
}
trap cleanup EXIT

"$ROOT/tools/zaqar/install.sh" || { echo "installing the Zaqar bed failed"; echo "0 passed, 0 failed"; exit 1; }
"$ROOT/tools/keystone/install.sh" || { echo "installing the keystone bed failed"; echo "0 passed, 0 failed"; exit 1; }
"$ROOT/tools/postgres/install.sh" || { echo "installing PostgreSQL failed"; echo "0 passed, 0 failed"; exit 1; }
"$ROOT/tools/rabbitmq/install.sh" || { echo "installing the RabbitMQ bed failed"; echo "0 passed, 0 failed"; exit 1; }
"$ROOT/tools/wine/install.sh" || { echo "installing Wine failed"; echo "0 passed, 0 failed"; exit 1; }
# The beds start beside the build (they wait mostly on their servers' start-up); each is waited for
# before the tests.
"$ROOT/tools/zaqar/start.sh" --dir "$BED" --no-install >"$WORK/zaqar-start.log" 2>&1 & zaqar_start=$!
"$ROOT/tools/keystone/start.sh" --dir "$KEYSTONE_BED" --no-install --websocket >"$WORK/keystone-start.log" 2>&1 & keystone_start=$!
"$ROOT/tools/rabbitmq/start.sh" --dir "$RABBIT_BED" --tls --no-install >"$WORK/rabbitmq-start.log" 2>&1 & rabbit_start=$!
export GUESTAGENT_ZAQAR_ENV="$BED/env" GUESTAGENT_KEYSTONE_ENV="$KEYSTONE_BED/env" GUESTAGENT_RABBITMQ_ENV="$RABBIT_BED/env"
beds_up() {
    wait "$zaqar_start" || { cat "$WORK/zaqar-start.log"; echo "starting the Zaqar bed failed"; return 1; }
    wait "$keystone_start" || { cat "$WORK/keystone-start.log"; echo "starting the keystone bed failed (logs: $KEYSTONE_BED)"; return 1; }
    wait "$rabbit_start" || { cat "$WORK/rabbitmq-start.log"; echo "starting the RabbitMQ bed failed (logs: $RABBIT_BED/log)"; return 1; }
}

if ! dotnet build -nologo -c Release GuestAgent.sln; then
    wait; echo "build failed"; echo "0 passed, 0 failed"; exit 1
fi
# The agent every test starts: published as it is released (ReadyToRun code, tiered compilation off:
# the agent's csproj), on this machine's .NET runtime rather than self-contained (the same compiled
# code, quicker to publish). Each agent start then spends ~1 s less CPU compiling, across hundreds
# of starts, and the tests run the code that ships. tools/test-trimmed.sh sets its own build.
if [[ -z "${GUESTAGENT_AGENT_EXECUTABLE:-}" ]]; then
    if ! dotnet publish -nologo -v:q -c Release -r "linux-$(dpkg --print-architecture | sed 's/amd64/x64/')" --self-contained false \
            -p:PublishReadyToRun=true -p:DebugType=none src/GuestAgent.Agent -o "$ROOT/artifacts/test-agent"; then
        wait; echo "publishing the agent under test failed"; echo "0 passed, 0 failed"; exit 1
    fi
    export GUESTAGENT_AGENT_EXECUTABLE="$ROOT/artifacts/test-agent/guest-agent"
fi
# The win-x64 agent the Windows tests run under Wine (only when a source changed since the last one).
if ! "$ROOT/tools/wine/build-agent.sh"; then
    wait; echo "building the win-x64 agent failed"; echo "0 passed, 0 failed"; exit 1
fi
beds_up || { echo "0 passed, 0 failed"; exit 1; }
# The projects that use the shared Zaqar beds run one at a time (its zaqar-server serves one request
# at a time); those that never touch them (listed here: a new project is in the first group until
# it is listed) run meanwhile, one at a time, beside them. Each project's own classes run in
# parallel as its xunit settings say (GuestAgent.Agent.Tests: xunit.runner.json).
BESIDE_ZAQAR=(GuestAgent.Protocol.Tests GuestAgent.Blocks.SysInfo.Tests GuestAgent.Amqp.Tests)
zaqar_group=() beside_group=() agent_tests=""
for project in tests/*/*.Tests.csproj; do
    name="$(basename "$project" .csproj)"
    if [[ " ${BESIDE_ZAQAR[*]} " == *" $name "* ]]; then beside_group+=("$project")
    # The agent tests last in their group: the side group (agents and brokers of its own) then runs
    # beside the lighter Zaqar and client tests, not beside the agent tests and their timeouts.
    elif [[ "$name" == GuestAgent.Agent.Tests ]]; then agent_tests="$project"
    else zaqar_group+=("$project"); fi
done
[[ -n "$agent_tests" ]] && zaqar_group+=("$agent_tests")
run_group() {
    local status=0 project
    for project in "$@"; do
        dotnet test "$project" -c Release --no-build --logger "trx;LogFileName=$(basename "$project" .csproj).trx" \
            --results-directory "$WORK/results" "${TEST_ARGS[@]}" || status=1
    done
    return $status
}
TEST_ARGS=("$@")
run_group "${beside_group[@]}" & beside=$!
run_group "${zaqar_group[@]}"; rc=$?
wait "$beside" || rc=1

passed=0 failed=0 skipped=0 files=0
for trx in "$WORK"/results/*.trx; do
    [[ -f "$trx" ]] || continue
    files=$((files + 1))
    counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
    get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
    passed=$((passed + $(get passed)))
    failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
    # xunit's skipped tests are "NotExecuted" results, counted in total but not in executed.
    skipped=$((skipped + $(get total) - $(get executed)))
done
(( files > 0 )) || { echo "no test results were written"; failed=$((failed + 1)); }
(( rc == 0 || failed > 0 )) || { echo "dotnet test failed (exit $rc) without a failed test"; }
echo "$passed passed, $failed failed, $skipped skipped"
(( rc == 0 && failed == 0 && files > 0 ))
