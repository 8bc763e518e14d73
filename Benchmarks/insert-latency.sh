#!/usr/bin/env bash
# Insert's write latency at a fixed rate (issue 15: p99 < 5 ms at half the maximum load): sluice
# insert, RF=1, over three NullSink nodes, pinned to CPU 0; `sluice loadgen --rate RATE` and the
# sinks on CPU 1, as in peers.sh. One run of SECONDS per number of requests in flight; prints
# loadgen's latency percentiles and failed requests per run.
#
#   Benchmarks/insert-latency.sh [rate] [seconds] [in-flight…]   # default half 20 16 4 2
#
# The rate `half` (the default) first measures insert's maximum in this run (`loadgen --max`, 16 in
# flight, SECONDS long, as peers.sh does) and takes half of it; a number is taken as it is.
#
# Before and after the rows, insert's route step alone runs on CPU 0 at about half duty
# (HotPathProfile with SLUICE_PACE_MICROS): the same work every time, so the share of 100 ms
# windows in which it ran 1.2× slower than its median or worse shows how steady the core was
# around the rows. On a shared virtual machine it varies from minute to minute.
#
# SLUICE_BIN names a prebuilt sluice.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-half}
seconds=${2:-20}
shift $(( $# < 2 ? $# : 2 ))
if [ $# -gt 0 ]; then inflight=("$@"); else inflight=(16 4 2); fi
root=$PWD

command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null
. Benchmarks/common.sh
if [ -z "${SLUICE_BIN:-}" ]; then quiet swift build -c release --product sluice; fi
quiet swift build --package-path Benchmarks -c release --product NullSink
quiet swift build --package-path Benchmarks -c release --product HotPathProfile
quiet swift build --package-path Benchmarks -c release --product MakeWriteBodies
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

Benchmarks/.build/release/MakeWriteBodies "$tmp/bodies" 10 1 2000 >/dev/null
steadiness() { # insert's route step over loadgen-like bodies, about 0.55 ms each with a 0.6 ms rest, ~20 s
  echo "route step alone on CPU 0 ($1): $(SLUICE_PACE_MICROS=600 taskset -c 0 Benchmarks/.build/release/HotPathProfile 1 1600 "$tmp/bodies")"
}

# One run: a fresh insert (so no run inherits another's connections, buffers or data directory),
# loadgen at $1 (a rate, or max) with $2 requests in flight; the report goes to $tmp/report-$1-$2.json.
run() {
  taskset -c 0 "$sluice" insert --config "$tmp/ring.yml" --listen 127.0.0.1:18201 --data-dir "$tmp/insert-$1-$2" --log-level error &
  server=$!
  wait_ready http://127.0.0.1:18201/-/ready
  local pace=(--rate "$1")
  [ "$1" != max ] || pace=(--max)
  taskset -c 1 "$sluice" loadgen --url http://127.0.0.1:18201/api/v1/write "${pace[@]}" --series 100000 --metrics 100 \
    --interval 10s --batch 2000 --concurrency "$2" --warmup-ticks 1 --duration "${seconds}s" --progress none \
    --report "$tmp/report-$1-$2.json" >"$tmp/loadgen-$1-$2.log" 2>&1 \
    || { echo "sluice loadgen failed:" >&2; tail -n 20 "$tmp/loadgen-$1-$2.log" >&2; exit 1; }
  stop "$server"
  server=""
}

steadiness before
if [ "$rate" = half ]; then
  run max 16
  maximum=$(jq '.throughput.samplesPerSecond | floor' "$tmp/report-max-16.json")
  rate=$(( maximum / 2 ))
  echo "maximum (16 in flight, ${seconds} s): $maximum samples/s; rate: $rate"
fi
echo "| in flight | samples/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | failed requests |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${inflight[@]}"; do
  run "$rate" "$n"
  jq -r --arg n "$n" '"| \($n) | \(.throughput.samplesPerSecond | floor) | \(.latencyMs.p50) | \(.latencyMs.p90) | \(.latencyMs.p99) | \(.latencyMs.p999) | \(.latencyMs.max) | \(.requests.failed) |"' "$tmp/report-$rate-$n.json"
done
steadiness after
