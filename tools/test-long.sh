#!/bin/bash
# test-long.sh -- the longer test mode, run by hand before resolving work that touches what it covers:
# the default suite (tools/test.sh, same arguments) plus the tests marked [LongFact] (real outages
# waited out for tens of seconds: Zaqar's WebSocket notifier after its server was killed) and
# [LongTheory] (the operation matrix's http, cancel, signing and kill -9 reattach scenarios on every transport; the
# Windows agent's casts, cancel, kill -9 recovery and service under Wine: E2E/Windows/WineRecoveryTests; the broker's own
# faults and the AMQP controller's calls across a broker restart or a forced close, each on a broker of their own), and the
# big-output test at 2 GiB instead of 128 MiB. Ends with the same totals line as tools/test.sh.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GUESTAGENT_LONG_TESTS=1
export GUESTAGENT_BIG_OUTPUT_MIB="${GUESTAGENT_BIG_OUTPUT_MIB:-2048}"
exec "$ROOT/tools/test.sh" "$@"
