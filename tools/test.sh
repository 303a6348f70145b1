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
"$ROOT/tools/zaqar/start.sh" --dir "$BED" --no-install >/dev/null || { echo "starting the Zaqar bed failed"; echo "0 passed, 0 failed"; exit 1; }
export GUESTAGENT_ZAQAR_ENV="$BED/env"
"$ROOT/tools/keystone/start.sh" --dir "$KEYSTONE_BED" --no-install --websocket >/dev/null || { echo "starting the keystone bed failed (logs: $KEYSTONE_BED)"; echo "0 passed, 0 failed"; exit 1; }
export GUESTAGENT_KEYSTONE_ENV="$KEYSTONE_BED/env"
"$ROOT/tools/rabbitmq/start.sh" --dir "$RABBIT_BED" --tls --no-install >/dev/null || { echo "starting the RabbitMQ bed failed (logs: $RABBIT_BED/log)"; echo "0 passed, 0 failed"; exit 1; }
export GUESTAGENT_RABBITMQ_ENV="$RABBIT_BED/env"

if ! dotnet build -nologo -c Release GuestAgent.sln; then
    echo "build failed"; echo "0 passed, 0 failed"; exit 1
fi
# The agent every test starts: published as it is released (self-contained, ReadyToRun code,
# tiered compilation off: the agent's csproj). The default suite starts some 190 agent processes;
# each spends ~1 s less CPU starting than a plain build's (1.6 s against 2.6 s to its first reply,
# tools/bench/cold-start.sh), the tests run the compiled code that ships, and the package test
# packages this build rather than publishing one of its own. tools/test-trimmed.sh sets its own build.
if [[ -z "${GUESTAGENT_AGENT_EXECUTABLE:-}" ]]; then
    if ! dotnet publish -nologo -v:q -c Release -r "linux-$(dpkg --print-architecture | sed 's/amd64/x64/')" --self-contained true \
            -p:PublishReadyToRun=true -p:DebugType=none src/GuestAgent.Agent -o "$ROOT/artifacts/test-agent"; then
        echo "publishing the agent under test failed"; echo "0 passed, 0 failed"; exit 1
    fi
    export GUESTAGENT_AGENT_EXECUTABLE="$ROOT/artifacts/test-agent/guest-agent"
fi
# Every agent process the tests start runs that precompiled code with tiered compilation on and
# nothing re-compiled (DOTNET_TC_CallCounting=0): what has no precompiled code (generic
# instantiations across assemblies, linq2db's expressions) is compiled quickly once instead of at
# full optimization, which spends 0.7 s less CPU on each start (1.4 against 2.1 s to the first reply,
# tools/bench/cold-start.sh). The package's systemd unit gives a release the same two (and a GC
# cap: tools/systemd/guest-agent.service); the binary's own default keeps tiered compilation off
# (docs/performance.md). GUESTAGENT_AGENT_ENV="" runs the suite's agents at that default.
export GUESTAGENT_AGENT_ENV="${GUESTAGENT_AGENT_ENV-DOTNET_TieredCompilation=1 DOTNET_TC_CallCounting=0}"
# The win-x64 agent the Windows tests run under Wine (only when a source changed since the last one).
# (Published beside the first test projects it saved nothing: both slowed by as much, on two cores.)
if ! "$ROOT/tools/wine/build-agent.sh"; then
    echo "building the win-x64 agent failed"; echo "0 passed, 0 failed"; exit 1
fi
# The projects on Zaqar one at a time: they share one single-threaded Zaqar, and the agent tests
# start many agent processes (running those beside anything on two cores only adds load and
# flakiness). The RabbitMQ tests touch no Zaqar and run beside the light Zaqar projects (the
# protocol, Zaqar client and SDK tests, mostly waiting on the bed), then the agent tests alone.
run_tests() { # PROJECT: one test project
    dotnet test "tests/$1/$1.csproj" -c Release --no-build --logger trx --results-directory "$WORK/results" "${TEST_ARGS[@]}"
}
TEST_ARGS=("$@")
LIGHT=(GuestAgent.Protocol.Tests GuestAgent.Blocks.SysInfo.Tests GuestAgent.Zaqar.Tests GuestAgent.Client.Tests)
rc=0
run_tests GuestAgent.Amqp.Tests >"$WORK/amqp-tests.log" 2>&1 &
amqp=$!
for project in "${LIGHT[@]}"; do
    run_tests "$project" || rc=1
done
wait "$amqp" || rc=1
cat "$WORK/amqp-tests.log"
# The agent tests (several test classes at a time: their xunit.runner.json), and any test project
# not named above, one project at a time.
for dir in tests/*.Tests; do
    project="$(basename "$dir")"
    [[ " GuestAgent.Amqp.Tests ${LIGHT[*]} " == *" $project "* ]] || { run_tests "$project" || rc=1; }
done

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
