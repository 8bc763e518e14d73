#!/usr/bin/env bash
# Storage footprint in one run, for sluice storage, Prometheus 2.42 and VictoriaMetrics single-node,
# each pinned to CPU 0 with curl on CPU 1:
#   - RSS per active series: SERIES series (default 1M) of 2 samples each, RSS after minus before;
#   - bytes per sample on disk once data is in blocks: 10k series x 4 h at 15 s (9.6M samples).
#
#   Benchmarks/storage-footprint.sh [series]
set -euo pipefail
cd "$(dirname "$0")/.."
series=${1:-1000000}
root=$PWD
scripts/setup.sh --test >/dev/null
sluice=${SLUICE_BIN:-$root/.build/release/sluice}
[ -n "${SLUICE_BIN:-}" ] || swift build -c release --product sluice >/dev/null
(cd Benchmarks && swift build -c release --product ReadBench >/dev/null)
bench=$root/Benchmarks/.build/release/ReadBench
tmp=$(mktemp -d)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
wait_ready() { for _ in $(seq 600); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; exit 1; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
load() { # dir url
  local bad=0
  for body in "$1"/*.bin; do
    code=$(taskset -c 1 curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' \
      -H 'Content-Encoding: snappy' -H 'X-Prometheus-Remote-Write-Version: 0.1.0' --data-binary @"$body" "$2")
    [ "$code" = 204 ] || [ "$code" = 200 ] || bad=$((bad + 1))
  done
  [ "$bad" = 0 ] || { echo "$bad writes to $2 failed" >&2; exit 1; }
}

# Six hours ago, on a 2 h boundary, so 4 h of data fill one whole 2 h block and more.
start=$(( ($(date +%s) - 6 * 3600) / 7200 * 7200 * 1000 ))
"$bench" bodies "$tmp/active" "$series" 2 15000 "$start" >/dev/null
"$bench" bodies "$tmp/long" 10000 960 15000 "$start" >/dev/null
printf 'global: {scrape_interval: 15s}\n' > "$tmp/prometheus.yml"

start_peer() { # name data-dir
  case $1 in
    sluice) taskset -c 0 "$sluice" storage --listen 127.0.0.1:19301 --data-dir "$2" --compaction-interval 1s --log-level warning >"$tmp/$1.log" 2>&1 &
            pid=$!; wait_ready http://127.0.0.1:19301/-/ready; url=http://127.0.0.1:19301 ;;
    prometheus) taskset -c 0 prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$2" --web.listen-address=127.0.0.1:19090 \
              --web.enable-remote-write-receiver --log.level=warn >"$tmp/$1.log" 2>&1 &
            pid=$!; wait_ready http://127.0.0.1:19090/-/ready; url=http://127.0.0.1:19090 ;;
    victoria) taskset -c 0 victoria-metrics -httpListenAddr=127.0.0.1:18428 -storageDataPath="$2" -retentionPeriod=100y >"$tmp/$1.log" 2>&1 &
            pid=$!; wait_ready http://127.0.0.1:18428/health; url=http://127.0.0.1:18428 ;;
  esac
}
stop_peer() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

declare -A per_series bytes_per_sample
for peer in sluice prometheus victoria; do
  start_peer $peer "$tmp/$peer-active"
  sleep 2
  before=$(rss_kib "$pid")
  load "$tmp/active" "$url/api/v1/write"
  sleep 5
  after=$(rss_kib "$pid")
  per_series[$peer]=$(echo "($after - $before) * 1024 / $series" | bc)
  stop_peer

  start_peer $peer "$tmp/$peer-long"
  load "$tmp/long" "$url/api/v1/write"
  case $peer in
    sluice)
      for _ in $(seq 120); do
        blocks=$(curl -s "$url/metrics" | awk '/^sluice_storage_blocks / {print $2}')
        [ "${blocks%.*}" -ge 1 ] 2>/dev/null && break; sleep 1
      done
      bytes_per_sample[$peer]=$(curl -s "$url/metrics" | awk '/^sluice_storage_block_bytes_per_sample / {printf "%.2f", $2}') ;;
    prometheus)
      # Prometheus cuts a block on its minute tick once the head spans 3 h.
      for _ in $(seq 150); do ls "$tmp/$peer-long"/*/meta.json >/dev/null 2>&1 && break; sleep 1; done
      block=$(dirname "$(ls "$tmp/$peer-long"/*/meta.json | head -1)")
      samples=$(grep -o '"numSamples": *[0-9]*' "$block/meta.json" | grep -o '[0-9]*$')
      bytes_per_sample[$peer]=$(echo "scale=2; $(du -sb "$block" | cut -f1) / $samples" | bc) ;;
    victoria)
      curl -s "$url/internal/force_flush" >/dev/null; sleep 3
      bytes_per_sample[$peer]=$(echo "scale=2; $(du -sb "$tmp/$peer-long" | cut -f1) / 9600000" | bc) ;;
  esac
  stop_peer
done

echo "# Storage footprint, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
echo
echo "| peer | RSS per active series ($series series) | bytes per sample on disk (blocks) |"
echo "| --- | --- | --- |"
echo "| sluice storage | ${per_series[sluice]} B | ${bytes_per_sample[sluice]} |"
echo "| Prometheus 2.42 | ${per_series[prometheus]} B | ${bytes_per_sample[prometheus]} |"
echo "| VictoriaMetrics single-node | ${per_series[victoria]} B | ${bytes_per_sample[victoria]} (whole data dir) |"
