#!/usr/bin/env bash
# Insert's cost per sample for remote write 1.0 and 2.0, in the same run:
#
#   Benchmarks/rw2-insert.sh [seconds]      default 20 s per row
#
# `sluice insert` (RF 1, pinned to CPU 0) in front of three NullSink nodes, driven by `sluice loadgen`
# (pinned to CPU 1, with the sinks) at full speed, three times:
#   v1            1.0 in, 1.0 forwarded (the ring as peers.sh has it)
#   v2-pass       2.0 in, 2.0 forwarded (ring nodes with remote_write_version: "2.0")
#   v2-translate  2.0 in, 1.0 forwarded (ring nodes with remote_write_version: "1.0")
# Prints samples/s and insert's CPU seconds per million samples (the warm-up tick included).
# SLUICE_BIN uses a prebuilt binary.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
root=$PWD
quiet() { local log; log=$("$@" 2>&1) || { echo "$log" | tail -n 30 >&2; echo "failed: $*" >&2; exit 1; }; }
command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null
if [ -z "${SLUICE_BIN:-}" ]; then quiet swift build -c release --product sluice; fi
quiet swift build --package-path Benchmarks -c release --product NullSink
sluice=${SLUICE_BIN:-$root/.build/release/sluice}
nullsink=$root/Benchmarks/.build/release/NullSink
ticks=$(getconf CLK_TCK)

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
wait_ready() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

taskset -c 1 "$nullsink" 127.0.0.1:18431 127.0.0.1:18432 127.0.0.1:18433 2>"$tmp/nullsink.log" &
pids+=($!)
for i in 1 2 3; do wait_ready "http://127.0.0.1:1843$i/health"; done

printf '| mode | samples/s | insert CPU-s per M samples | failed requests |\n|---|---:|---:|---:|\n'
for mode in v1 v2-pass v2-translate; do
  case $mode in
    v1) version=1; node="" ;;
    v2-pass) version=2; node=', remote_write_version: "2.0"' ;;
    v2-translate) version=2; node=', remote_write_version: "1.0"' ;;
  esac
  cat >"$tmp/ring.yml" <<RING
replication_factor: 1
nodes:
  - {name: sink-1, url: http://127.0.0.1:18431/api/v1/write$node}
  - {name: sink-2, url: http://127.0.0.1:18432/api/v1/write$node}
  - {name: sink-3, url: http://127.0.0.1:18433/api/v1/write$node}
RING
  taskset -c 0 "$sluice" insert --config "$tmp/ring.yml" --listen 127.0.0.1:18201 --data-dir "$tmp/insert-$mode" \
    >"$tmp/insert-$mode.log" 2>&1 &
  insert=$!
  pids+=("$insert")
  wait_ready http://127.0.0.1:18201/-/ready
  before=$(cpu_ticks "$insert")
  taskset -c 1 "$sluice" loadgen --url http://127.0.0.1:18201/api/v1/write --remote-write-version "$version" \
    --max --series 100000 --metrics 100 --interval 10s --batch 2000 --concurrency 16 --warmup-ticks 1 \
    --duration "${seconds}s" --progress none --report "$tmp/$mode.json" >"$tmp/$mode.loadgen.log" 2>&1
  after=$(cpu_ticks "$insert")
  kill -TERM "$insert"; wait "$insert" 2>/dev/null || true
  jq -r --arg mode "$mode" --argjson cpu "$(( after - before ))" --argjson hz "$ticks" --argjson warm 100000 '
    "| \($mode) | \(.throughput.samplesPerSecond | floor) | \(($cpu / $hz) / ((.samples.acknowledged + $warm) / 1e6) * 100 | floor / 100) | \(.requests.failed) |"' \
    "$tmp/$mode.json"
done
