#!/usr/bin/env bash
# Whole-server storage ingest, one core each, in one run: each server pinned to CPU 0, wrk to CPU 1.
#
#   Benchmarks/storage-peers.sh [seconds]        # seconds of measured ingest per peer, default 10
#
# Peers: sluice storage with --wal-fsync always and interval, Prometheus 2.42's remote-write receiver,
# VictoriaMetrics single-node. Every peer starts empty and gets the same bodies from MakeWriteBodies:
# SETS (default 100) disjoint sets of 1000 node_exporter-like series, one sample per series per
# body, one 15 s scrape of every set per round, so SETS × 1000 active series. Round 0 (series
# creation) is sent untimed with curl; then wrk sends rounds 1… in order, each body at most once, for
# the measured seconds. SLUICE_BIN names a prebuilt sluice to use instead of building this checkout.
# The bodies are sized for MAX_RATE samples/s (default 3,000,000); a row marked
# "exhausted" ran out of bodies and its rate is too low: raise MAX_RATE.
#
# Per peer: accepted samples/s (2xx requests × 1000 / wrk's runtime) and its ratio to
# VictoriaMetrics and Prometheus; the server's CPU time (utime + stime from /proc) during the wrk run
# per million accepted samples; peak RSS (VmHWM); and after a clean shutdown, the data directory's
# size over the samples the server says it stored (its own counter). That last figure covers all
# the run's data, index included, after only SETS × 1000 series × a few dozen samples: compare it
# between peers, not with long-run figures. Prometheus and sluice hold it in their WAL and head
# chunks, VictoriaMetrics in compressed parts.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
sets=${SETS:-100}
series_per_body=1000
max_rate=${MAX_RATE:-3000000}
connections=16
rounds=$(( 1 + (seconds * max_rate + sets * series_per_body - 1) / (sets * series_per_body) ))
root=$PWD

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
scripts/setup.sh --test
quiet() { local log; log=$("$@" 2>&1) || { echo "$log" | tail -n 30 >&2; echo "failed: $*" >&2; exit 1; }; }
if [ -z "${SLUICE_BIN:-}" ]; then quiet swift build -c release --product sluice; fi
quiet swift build --package-path Benchmarks -c release --product MakeWriteBodies
sluice=${SLUICE_BIN:-$root/.build/release/sluice}
generator=$root/Benchmarks/.build/release/MakeWriteBodies

tmp=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "generating $((sets * rounds)) bodies: $sets sets × $rounds rounds × $series_per_body series" >&2
taskset -c 1 "$generator" "$tmp/bodies" "$sets" "$rounds" "$series_per_body" >&2
ticks=$(getconf CLK_TCK)

wait_ready() { # url
  for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "not ready: $1" >&2; exit 1
}
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
metric_sum() { # metrics-url name: the sum of every series of that name
  curl -sf "$1" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $2} END {printf "%.0f\n", s}'
}

rows=()
# measure name write-url ready-url metrics-url stored-samples-metric data-dir command…
measure() {
  local name=$1 url=$2 ready=$3 metrics=$4 stored_metric=$5 data=$6
  shift 6
  sync
  taskset -c 0 "$@" >"$tmp/server.log" 2>&1 &
  server=$!
  wait_ready "$ready"

  # Round 0, untimed: every series is new.
  local warm
  warm=$(seq -f "$tmp/bodies/body-%06g.bin" 0 $((sets - 1)) | taskset -c 1 xargs -P "$connections" -I{} \
    curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: snappy' \
    -H 'X-Prometheus-Remote-Write-Version: 0.1.0' --data-binary @{} "$url" | grep -vc '^2' || true)

  local cpu0 cpu1 out
  cpu0=$(cpu_ticks "$server")
  out=$(BODIES_DIR=$tmp/bodies BODIES_FIRST=$sets taskset -c 1 \
    wrk -t1 -c"$connections" -d"${seconds}s" --timeout 30s -s Benchmarks/wrk/remote-write-bodies.lua "$url")
  cpu1=$(cpu_ticks "$server")
  local hwm_kb; hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$server/status")
  sleep 1 # requests wrk left in flight
  local stored; stored=$(metric_sum "$metrics" "$stored_metric")
  kill -TERM "$server"
  local waited=0
  while [ -e "/proc/$server" ] && [ $waited -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
  [ $waited -lt 600 ] || { kill -KILL "$server"; echo "$name: killed after 60 s of shutdown" >&2; }
  wait "$server" 2>/dev/null || true
  server=""
  local bytes; bytes=$(du -sb "$data" | cut -f1)

  local requests runtime non2xx errors exhausted
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  runtime=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {print $0}' <<<"$out")
  exhausted=$(grep -c 'bodies exhausted' <<<"$out" || true)
  [ -n "$errors" ] && echo "$name: $errors" >&2
  [ "$exhausted" -gt 0 ] && echo "$name: bodies exhausted: raise MAX_RATE" >&2
  [ "$warm" -gt 0 ] && echo "$name: $warm of $sets warm-up requests failed" >&2
  [ "$non2xx" -gt 0 ] && { echo "$name: $non2xx non-2xx; server log tail:" >&2; tail -n 5 "$tmp/server.log" >&2; }
  rows+=("$name|$requests|$runtime|$non2xx|$((cpu1 - cpu0))|$hwm_kb|$bytes|$stored|$exhausted")
}

cat >"$tmp/prometheus.yml" <<'YML'
global:
  scrape_interval: 15s
scrape_configs: []
YML

for fsync in always interval; do
  measure "sluice storage, --wal-fsync $fsync" http://127.0.0.1:18301/api/v1/write \
    http://127.0.0.1:18301/-/ready http://127.0.0.1:18301/metrics sluice_storage_samples_appended_total "$tmp/sluice-$fsync" \
    "$sluice" storage --listen 127.0.0.1:18301 --data-dir "$tmp/sluice-$fsync" --wal-fsync "$fsync" --log-level error
done
measure "Prometheus 2.42 (remote-write receiver)" http://127.0.0.1:18090/api/v1/write \
  http://127.0.0.1:18090/-/ready http://127.0.0.1:18090/metrics prometheus_tsdb_head_samples_appended_total "$tmp/prometheus" \
  /usr/bin/prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
  --web.listen-address=127.0.0.1:18090 --web.enable-remote-write-receiver --log.level=error
measure "VictoriaMetrics single-node" http://127.0.0.1:18428/api/v1/write \
  http://127.0.0.1:18428/health http://127.0.0.1:18428/metrics vm_rows_added_to_storage_total "$tmp/vm" \
  /usr/bin/victoria-metrics -httpListenAddr=127.0.0.1:18428 -storageDataPath="$tmp/vm" -retentionPeriod=100y -loggerLevel=ERROR

rate() { awk -F'|' -v s="$series_per_body" '{printf "%.0f", ($2 - $4) * s / $3}' <<<"$1"; }
vm_rate=$(rate "${rows[3]}")
prom_rate=$(rate "${rows[2]}")
echo
echo "Storage ingest, one core each ($(date -u +%Y-%m-%d), ${seconds} s per peer, $((sets * series_per_body)) active series, $connections connections):"
echo
echo "| peer | samples/s | vs VictoriaMetrics | vs Prometheus | requests/s | non-2xx | CPU s per 1M samples | peak RSS MiB | disk bytes/sample |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
  awk -F'|' -v s="$series_per_body" -v vm="$vm_rate" -v prom="$prom_rate" -v hz="$ticks" '{
    accepted = ($2 - $4) * s; r = accepted / $3
    printf "| %s%s | %.0f | %.2f | %.2f | %.0f | %d | %s | %.0f | %s |\n", $1, ($9 > 0 ? " (exhausted)" : ""), r, r / vm, r / prom,
      $2 / $3, $4, (accepted > 0 ? sprintf("%.2f", ($5 / hz) / (accepted / 1e6)) : "n/a"), $6 / 1024,
      ($8 > 0 ? sprintf("%.2f", $7 / $8) : "n/a")
  }' <<<"$row"
done
