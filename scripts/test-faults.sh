#!/usr/bin/env bash
# The fault tests, bounded in time (about two minutes after the build): kill -9 of a storage node and
# of the insert node under `sluice loadgen` with read-back verification, 20 rounds of kill -9 of a
# storage node mid-write, a storage node whose disk fills up, 10x overload, and 1,000 idle and
# slowloris connections. The everyday suite (scripts/test.sh) runs the same tests with 3 kill rounds
# instead of 20.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
swift build --build-tests
SLUICE_CRASH_ROUNDS=20 swift test --skip-build --filter 'FaultTests|OutOfDiskTests|StorageCrashTests|OverloadTests|SlowClientTests'
