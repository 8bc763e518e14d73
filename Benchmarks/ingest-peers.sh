#!/usr/bin/env bash
# Whole-server ingest of the Prometheus 2.42 fixtures, one core each: the server pinned to CPU 0,
# wrk to CPU 1, in one run. Prints samples/s (requests/s × 464 samples per fixture body on average).
#
#   Benchmarks/ingest-peers.sh [seconds]
#
# Peers: VictoriaMetrics single-node, and sluice insert at RF=1 and RF=3 over three VictoriaMetrics
# nodes on CPU 1 (so those two rows measure insert's own core while storage lives elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
root=$PWD
export FIXTURES=${SLUICE_FIXTURES:-$root/../shared/fixtures/prometheus-2.42}/remote-write
samples_per_body=464   # 2784 samples in 6 bodies
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
scripts/setup.sh --test
swift build -c release --product sluice >/dev/null
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

wait_ready() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }

measure() { # name url
  local out; out=$(taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s Benchmarks/wrk/remote-write.lua "$2")
  local rps; rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  local errors; errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-40s %12.0f samples/s  (%s req/s, non-2xx: %s)\n' "$1" "$(echo "$rps * $samples_per_body" | bc -l)" "$rps" "${errors:-0}"
}

# VictoriaMetrics single-node on CPU 0.
taskset -c 0 victoria-metrics -httpListenAddr=127.0.0.1:18428 -storageDataPath="$tmp/vm" -retentionPeriod=100y >/dev/null 2>&1 &
pids+=($!)
wait_ready http://127.0.0.1:18428/health
measure "victoria-metrics single-node" http://127.0.0.1:18428/api/v1/write
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# Three VictoriaMetrics storage nodes on CPU 1, sluice insert on CPU 0.
for i in 1 2 3; do
  taskset -c 1 victoria-metrics -httpListenAddr=127.0.0.1:1843$i -storageDataPath="$tmp/vm$i" -retentionPeriod=100y >/dev/null 2>&1 &
  pids+=($!)
  wait_ready http://127.0.0.1:1843$i/health
done
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
  measure "sluice insert RF=$rf (3 VM nodes)" http://127.0.0.1:18201/api/v1/write
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done
