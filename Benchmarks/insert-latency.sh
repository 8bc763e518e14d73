#!/usr/bin/env bash
# Insert's write latency at a fixed rate (issue 15: p99 < 5 ms at half the maximum load): sluice
# insert, RF=1, over three NullSink nodes, pinned to CPU 0; `sluice loadgen --rate RATE` and the
# sinks on CPU 1, as in peers.sh. One run of SECONDS per number of requests in flight; prints
# loadgen's latency percentiles and failed requests per run.
#
#   Benchmarks/insert-latency.sh [rate] [seconds] [in-flight…]   # default 850000 20 16 4 2
#
# Take the rate as half of insert's maximum from `SLUICE_BENCH_TARGETS=insert-rf1
# Benchmarks/peers.sh 20` in the same session. SLUICE_BIN names a prebuilt sluice.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-850000}
seconds=${2:-20}
shift $(( $# < 2 ? $# : 2 ))
if [ $# -gt 0 ]; then inflight=("$@"); else inflight=(16 4 2); fi
root=$PWD

command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null
. Benchmarks/common.sh
if [ -z "${SLUICE_BIN:-}" ]; then quiet swift build -c release --product sluice; fi
quiet swift build --package-path Benchmarks -c release --product NullSink
sluice=${SLUICE_BIN:-$root/.build/release/sluice}

taskset -c 1 "$root/Benchmarks/.build/release/NullSink" 127.0.0.1:18431 127.0.0.1:18432 127.0.0.1:18433 2>"$tmp/nullsink.log" &
sinks=$!
for i in 1 2 3; do wait_ready "http://127.0.0.1:1843$i/health"; done
cat >"$tmp/ring.yml" <<RING
replication_factor: 1
nodes:
  - {name: sink-1, url: http://127.0.0.1:18431/api/v1/write}
  - {name: sink-2, url: http://127.0.0.1:18432/api/v1/write}
  - {name: sink-3, url: http://127.0.0.1:18433/api/v1/write}
RING

echo "| in flight | samples/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | failed requests |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${inflight[@]}"; do
  # A fresh insert per run, so no run inherits another's connections or buffers.
  taskset -c 0 "$sluice" insert --config "$tmp/ring.yml" --listen 127.0.0.1:18201 --data-dir "$tmp/insert-$n" --log-level error &
  server=$!
  wait_ready http://127.0.0.1:18201/-/ready
  taskset -c 1 "$sluice" loadgen --url http://127.0.0.1:18201/api/v1/write --rate "$rate" --series 100000 --metrics 100 \
    --interval 10s --batch 2000 --concurrency "$n" --warmup-ticks 1 --duration "${seconds}s" --progress none \
    --report "$tmp/report-$n.json" >"$tmp/loadgen-$n.log" 2>&1 \
    || { echo "sluice loadgen failed:" >&2; tail -n 20 "$tmp/loadgen-$n.log" >&2; exit 1; }
  stop "$server"
  server=""
  jq -r --arg n "$n" '"| \($n) | \(.throughput.samplesPerSecond | floor) | \(.latencyMs.p50) | \(.latencyMs.p90) | \(.latencyMs.p99) | \(.latencyMs.p999) | \(.latencyMs.max) | \(.requests.failed) |"' "$tmp/report-$n.json"
done
