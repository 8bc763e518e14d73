#!/usr/bin/env bash
# Remote read of 10k series × 1 h (240 samples each, 2.4M samples) in one run: Prometheus 2.42 from
# its own TSDB against sluice select over `sluice up` (3 storage nodes, RF 2, and 1 node, RF 1)
# holding the same data.
# Each server is pinned to CPU 0, curl to CPU 1. Reads go to the servers in turn, N rounds; prints each
# server's median and the ratios.
#
#   Benchmarks/read-peers.sh [reads-per-row]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
root=$PWD
scripts/setup.sh --test >/dev/null
swift build -c release --product sluice >/dev/null
(cd Benchmarks && swift build -c release --product ReadBench >/dev/null)
bench=$root/Benchmarks/.build/release/ReadBench
sluice=$root/.build/release/sluice
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
wait_ready() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }

start=$(( ($(date +%s) - 7200) * 1000 ))
end=$(( start + 239 * 15000 ))
bodies=$("$bench" bodies "$tmp/bodies" 10000 240 15000 "$start")

printf 'global: {scrape_interval: 15s}\n' > "$tmp/prometheus.yml"
taskset -c 0 prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
  --web.listen-address=127.0.0.1:19090 --web.enable-remote-write-receiver --log.level=warn >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
taskset -c 0 "$sluice" up --data-dir "$tmp/sluice" --insert-port 19201 --select-port 19202 --storage-port 19301 >"$tmp/sluice.log" 2>&1 &
pids+=($!)
taskset -c 0 "$sluice" up --data-dir "$tmp/sluice1" --nodes 1 --replication-factor 1 --insert-port 19211 --select-port 19212 --storage-port 19311 >"$tmp/sluice1.log" 2>&1 &
pids+=($!)
wait_ready http://127.0.0.1:19090/-/ready
wait_ready http://127.0.0.1:19202/-/ready
wait_ready http://127.0.0.1:19212/-/ready

load() { # url
  local bad=0
  for body in "$tmp"/bodies/*.bin; do
    code=$(taskset -c 1 curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' \
      -H 'Content-Encoding: snappy' -H 'X-Prometheus-Remote-Write-Version: 0.1.0' --data-binary @"$body" "$1")
    [ "$code" = 204 ] || [ "$code" = 200 ] || bad=$((bad + 1))
  done
  [ "$bad" = 0 ] || { echo "$bad of $bodies writes to $1 failed" >&2; exit 1; }
}
load http://127.0.0.1:19090/api/v1/write
load http://127.0.0.1:19201/api/v1/write
load http://127.0.0.1:19211/api/v1/write

"$bench" request "$tmp/samples.req" "$start" "$end" samples
"$bench" request "$tmp/streamed.req" "$start" "$end" streamed

read_once() { # url type answer-file -> prints seconds
  taskset -c 1 curl -s -o "$3" -w '%{time_total}' -H 'Content-Type: application/x-protobuf' \
    -H 'Content-Encoding: snappy' -H 'X-Prometheus-Remote-Read-Version: 0.1.0' --data-binary @"$tmp/$2.req" "$1"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The three servers are read in turn, round after round, so a slow spell of the shared machine falls
# on all of them rather than on one row.
measure_all() { # type -> prints "p_time p_series p_samples s_time s_series s_samples o_time o_series o_samples"
  local p=() s=() o=()
  for _ in $(seq "$runs"); do
    p+=("$(read_once http://127.0.0.1:19090/api/v1/read "$1" "$tmp/answer-p")")
    s+=("$(read_once http://127.0.0.1:19202/api/v1/read "$1" "$tmp/answer-s")")
    o+=("$(read_once http://127.0.0.1:19212/api/v1/read "$1" "$tmp/answer-o")")
  done
  echo "$(printf '%s\n' "${p[@]}" | median) $("$bench" count "$tmp/answer-p" "$1")" \
    "$(printf '%s\n' "${s[@]}" | median) $("$bench" count "$tmp/answer-s" "$1")" \
    "$(printf '%s\n' "${o[@]}" | median) $("$bench" count "$tmp/answer-o" "$1")"
}

echo "# Remote read, 10k series x 1 h (240 samples each), median of $runs reads, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
echo
echo "| answer | Prometheus 2.42 | sluice select, 3 nodes RF 2 | speed vs Prometheus | sluice select, 1 node RF 1 | speed vs Prometheus |"
echo "| --- | --- | --- | --- | --- | --- |"
for type in samples streamed; do
  read -r p_time p_series p_samples s_time s_series s_samples o_time o_series o_samples <<<"$(measure_all $type)"
  for got in "$s_series $s_samples" "$o_series $o_samples"; do
    [ "$p_series $p_samples" = "$got" ] || echo "WARNING: $type answers differ: prometheus $p_series series $p_samples samples, sluice $got" >&2
  done
  printf '| %s | %.3f s | %.3f s | %.2fx | %.3f s | %.2fx |\n' "$type" "$p_time" "$s_time" "$(echo "$p_time / $s_time" | bc -l)" \
    "$o_time" "$(echo "$p_time / $o_time" | bc -l)"
done
echo
echo "Every answer held $p_series series and $p_samples samples."
