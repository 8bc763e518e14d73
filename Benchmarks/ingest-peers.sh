#!/usr/bin/env bash
# Whole-server ingest of the Prometheus 2.42 fixtures, one core each: the server pinned to CPU 0,
# wrk to CPU 1, in one run. Prints samples/s (requests/s × 464 samples per fixture body on average).
#
#   Benchmarks/ingest-peers.sh [seconds]
#   SLUICE_BENCH_NODES=null Benchmarks/ingest-peers.sh 20   # insert's nodes are NullSinks
#
# Peers: VictoriaMetrics single-node, and sluice insert at RF=1 and RF=3 over three VictoriaMetrics
# nodes on CPU 1 (so those two rows measure insert's own core while storage lives elsewhere). With
# SLUICE_BENCH_NODES=null the nodes are three NullSinks (they read each body and discard it), as in
# peers.sh: VictoriaMetrics nodes share CPU 1 with wrk and can bound the insert rows. Each row also
# gives the server's CPU-s per M samples, from /proc (utime + stime) over the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
root=$PWD
export FIXTURES=${SLUICE_FIXTURES:-$root/../shared/fixtures/prometheus-2.42}/remote-write
samples_per_body=464   # 2784 samples in 6 bodies
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
scripts/setup.sh --test
swift build -c release --product sluice >/dev/null
nodes=${SLUICE_BENCH_NODES:-vm}
[ "$nodes" = null ] && swift build --package-path Benchmarks -c release --product NullSink >/dev/null
ticks=$(getconf CLK_TCK)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

wait_ready() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime + stime
measure() { # name url server-pid
  local before; before=$(cpu_ticks "$3")
  local out; out=$(taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s Benchmarks/wrk/remote-write.lua "$2")
  local after; after=$(cpu_ticks "$3")
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  local errors; errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  local samples; samples=$(echo "$rps * $samples_per_body" | bc -l)
  printf '%-40s %12.0f samples/s  %5.2f CPU-s per M  (%s req/s, non-2xx: %s)\n' "$1" "$samples" \
    "$(echo "($after - $before) / $ticks / ($samples * $seconds / 1000000)" | bc -l)" "$rps" "${errors:-0}"
}

# VictoriaMetrics single-node on CPU 0.
taskset -c 0 victoria-metrics -httpListenAddr=127.0.0.1:18428 -storageDataPath="$tmp/vm" -retentionPeriod=100y >/dev/null 2>&1 &
pids+=($!)
wait_ready http://127.0.0.1:18428/health
measure "victoria-metrics single-node" http://127.0.0.1:18428/api/v1/write "${pids[-1]}"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# Three storage nodes on CPU 1 (VictoriaMetrics, or NullSinks), sluice insert on CPU 0.
if [ "$nodes" = null ]; then
  taskset -c 1 Benchmarks/.build/release/NullSink 127.0.0.1:18431 127.0.0.1:18432 127.0.0.1:18433 2>/dev/null &
  pids+=($!)
  for i in 1 2 3; do wait_ready http://127.0.0.1:1843$i/health; done
else
  for i in 1 2 3; do
    taskset -c 1 victoria-metrics -httpListenAddr=127.0.0.1:1843$i -storageDataPath="$tmp/vm$i" -retentionPeriod=100y >/dev/null 2>&1 &
    pids+=($!)
    wait_ready http://127.0.0.1:1843$i/health
  done
fi
for rf in 1 3; do
  cat > "$tmp/ring.yml" <<RING
replication_factor: $rf
nodes:
  - {name: vm-1, url: http://127.0.0.1:18431/api/v1/write}
  - {name: vm-2, url: http://127.0.0.1:18432/api/v1/write}
  - {name: vm-3, url: http://127.0.0.1:18433/api/v1/write}
RING
  taskset -c 0 .build/release/sluice insert --config "$tmp/ring.yml" --listen 127.0.0.1:18201 --data-dir "$tmp/insert$rf" --log-level error &
  pids+=($!)
  wait_ready http://127.0.0.1:18201/-/ready
  measure "sluice insert RF=$rf (3 $nodes nodes)" http://127.0.0.1:18201/api/v1/write "${pids[-1]}"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done
