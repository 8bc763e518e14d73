#!/usr/bin/env bash
# Runs the benchmarks in release mode with the benchmark process pinned to one core.
#   Benchmarks/run.sh [extra `swift package benchmark` arguments]
set -euo pipefail
cd "$(dirname "$0")"
../scripts/setup.sh
swift build -c release
exec taskset -c "${SLUICE_BENCH_CPU:-1}" swift package --disable-sandbox benchmark --no-progress "$@"
