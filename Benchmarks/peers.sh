#!/usr/bin/env bash
# Remote-write ingest against peers, one core each, in one run: each server pinned to CPU 0, the
# load generator (`sluice loadgen`) pinned to CPU 1. Writes BENCHMARKS.md at the repository root.
#
#   Benchmarks/peers.sh [seconds]        # seconds of load per target, default 30
#   SLUICE_BENCH_TARGETS="up vm" Benchmarks/peers.sh 10    # only some rows
#
# Targets, one after another, each fed the same generated load:
#   insert-rf1   sluice insert, RF=1, over three NullSink nodes (they discard what they get)
#   insert-rf3   sluice insert, RF=3, over the same three NullSink nodes
#   storage      one sluice storage node, its defaults (WAL fsync always)
#   up           sluice up: 3 storage nodes + insert + select in one process, its defaults
#   up-1         sluice up --nodes 1 --replication-factor 1
#   vm           VictoriaMetrics single-node
#   prometheus   Prometheus 2.42 with its remote-write receiver
# The NullSinks run on CPU 1 with the load generator, so the insert rows measure insert's own core.
#
# Per target, from the load generator's report: acknowledged samples/s and failed requests; from
# /proc of the server process (only insert, not the sinks): CPU time (utime + stime) during the load
# per million acknowledged samples, and peak RSS (VmHWM). SLUICE_BIN names a prebuilt sluice to
# use instead of building this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
targets=${SLUICE_BENCH_TARGETS:-insert-rf1 insert-rf3 storage up up-1 vm prometheus}
root=$PWD

command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null
scripts/setup.sh --test
. Benchmarks/common.sh
if [ -z "${SLUICE_BIN:-}" ]; then quiet swift build -c release --product sluice; fi
quiet swift build --package-path Benchmarks -c release --product NullSink
sluice=${SLUICE_BIN:-$root/.build/release/sluice}
nullsink=$root/Benchmarks/.build/release/NullSink
ticks=$(getconf CLK_TCK)

# The load: the same for every target. Only --url and --report change.
series=100000
loadgen=(--max --series "$series" --metrics 100 --interval 10s --batch 2000 --concurrency 16
         --warmup-ticks 1 --duration "${seconds}s" --progress none)

port_free() { # url: nothing may answer there before we start our server
  if curl -s -o /dev/null --max-time 1 "$1"; then echo "something already listens at $1" >&2; exit 1; fi
}
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # fields 14, 15: utime, stime
# CPU 0's ticks in /proc/stat: busy (user, nice, system), stolen by the hypervisor, all.
cpu0_ticks() { awk '$1 == "cpu0" {print $2 + $3 + $4, $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }

labels=()  # "name|label" of each target run, in order; its figures are in $tmp/name.*
# measure name label write-url "ready-urls…" server-command…
measure() {
  local name=$1 label=$2 url=$3 ready=$4
  shift 4
  echo "$name: $label" >&2
  local u; for u in $ready; do port_free "$u"; done
  taskset -c 0 "$@" >"$tmp/$name.log" 2>&1 &
  server=$!
  for u in $ready; do wait_ready "$u"; done

  local cpu0 cpu1 busy0 steal0 all0 busy1 steal1 all1 other steal sampler
  cpu0=$(cpu_ticks "$server")
  read -r busy0 steal0 all0 < <(cpu0_ticks)
  # The server's CPU time every 0.1 s (from CPU 1), so that the warm-up tick, sent before loadgen's
  # clock starts, can be left out: the measured span is in the report.
  taskset -c 1 bash -c 'while [ -e /proc/'"$server"' ]; do echo "$(date +%s.%N) $(sed "s/^.*) //" /proc/'"$server"'/stat | awk "{print \$12 + \$13}")"; sleep 0.1; done' \
    >"$tmp/$name.cpu" 2>/dev/null &
  sampler=$!
  if ! taskset -c 1 "$sluice" loadgen --url "$url" "${loadgen[@]}" --report "$tmp/$name.json" >"$tmp/$name.loadgen.log" 2>&1; then
    echo "$name: sluice loadgen failed; its output:" >&2; tail -n 20 "$tmp/$name.loadgen.log" >&2; exit 1
  fi
  [ -e "/proc/$server" ] || { echo "$name: the server died; its log:" >&2; tail -n 20 "$tmp/$name.log" >&2; exit 1; }
  cpu1=$(cpu_ticks "$server")
  read -r busy1 steal1 all1 < <(cpu0_ticks)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  # CPU ticks between the last sample before the measured start and the first after its end (or the
  # reading taken just after loadgen exited).
  awk -v first="$cpu0" -v after="$cpu1" -v start="$(jq .startedAtUnixSeconds "$tmp/$name.json")" -v end="$(jq '.startedAtUnixSeconds + .durationSeconds' "$tmp/$name.json")" '
    $1 <= start { first = $2 }
    $1 >= end && last == "" { last = $2 }
    END { print (last == "" ? after : last) - first }' "$tmp/$name.cpu" >"$tmp/$name.ticks"
  # On a shared machine CPU 0 loses time to other processes and, in a VM, to the hypervisor.
  other=$(( 100 * (busy1 - busy0 - (cpu1 - cpu0)) / (all1 - all0) ))
  steal=$(( 100 * (steal1 - steal0) / (all1 - all0) ))
  echo "$other $steal" >"$tmp/$name.lost"
  echo "$name: CPU 0 lost ${other}% of the run to other processes, ${steal}% to hypervisor steal" >&2
  awk '/^VmHWM/ {print $2}' "/proc/$server/status" >"$tmp/$name.hwm_kb"
  stop "$server"
  server=""

  jq -r --arg n "$name" '"\($n): \(.throughput.samplesPerSecond | floor) samples/s, \(.samples.acknowledged) of \(.samples.sent) samples acknowledged, \(.requests.failed) failed requests, latency p50 \(.latencyMs.p50) ms p99 \(.latencyMs.p99) ms, status codes \(.statusCodes | tojson)"' "$tmp/$name.json" >&2
  labels+=("$name|$label")
}

wants() { [[ " $targets " == *" $1 "* ]]; }

if wants insert-rf1 || wants insert-rf3; then
  for i in 1 2 3; do port_free "http://127.0.0.1:1843$i/health"; done
  taskset -c 1 "$nullsink" 127.0.0.1:18431 127.0.0.1:18432 127.0.0.1:18433 2>"$tmp/nullsink.log" &
  sinks=$!
  for i in 1 2 3; do wait_ready "http://127.0.0.1:1843$i/health"; done
  for rf in 1 3; do
    wants "insert-rf$rf" || continue
    cat >"$tmp/ring-rf$rf.yml" <<RING
replication_factor: $rf
nodes:
  - {name: sink-1, url: http://127.0.0.1:18431/api/v1/write}
  - {name: sink-2, url: http://127.0.0.1:18432/api/v1/write}
  - {name: sink-3, url: http://127.0.0.1:18433/api/v1/write}
RING
    measure "insert-rf$rf" "sluice insert, RF=$rf, 3 null sinks" http://127.0.0.1:18201/api/v1/write \
      http://127.0.0.1:18201/-/ready \
      "$sluice" insert --config "$tmp/ring-rf$rf.yml" --listen 127.0.0.1:18201 --data-dir "$tmp/insert-rf$rf" --log-level error
  done
  stop "$sinks"
  sinks=""
  cat "$tmp/nullsink.log" >&2
fi

if wants storage; then
  measure storage "sluice storage (one node, WAL fsync always)" http://127.0.0.1:19311/api/v1/write http://127.0.0.1:19311/-/ready \
    "$sluice" storage --listen 127.0.0.1:19311 --data-dir "$tmp/storage" --log-level error
fi

if wants up; then
  measure up "sluice up (3 storage nodes, RF=2, one process)" http://127.0.0.1:19201/api/v1/write \
    "http://127.0.0.1:19201/-/ready http://127.0.0.1:19202/-/ready http://127.0.0.1:19301/-/ready http://127.0.0.1:19302/-/ready http://127.0.0.1:19303/-/ready" \
    "$sluice" up --data-dir "$tmp/up" --host 127.0.0.1 --insert-port 19201 --select-port 19202 --storage-port 19301 --log-level error
fi

if wants up-1; then
  measure up-1 "sluice up --nodes 1 --replication-factor 1" http://127.0.0.1:19211/api/v1/write \
    "http://127.0.0.1:19211/-/ready http://127.0.0.1:19212/-/ready http://127.0.0.1:19311/-/ready" \
    "$sluice" up --nodes 1 --replication-factor 1 --data-dir "$tmp/up-1" --host 127.0.0.1 --insert-port 19211 --select-port 19212 --storage-port 19311 --log-level error
fi

if wants vm; then
  measure vm "VictoriaMetrics single-node" http://127.0.0.1:18428/api/v1/write http://127.0.0.1:18428/health \
    victoria-metrics -httpListenAddr=127.0.0.1:18428 -storageDataPath="$tmp/vm" -retentionPeriod=100y -loggerLevel=ERROR
fi

if wants prometheus; then
  printf 'global: {}\n' >"$tmp/prometheus.yml"
  measure prometheus "Prometheus 2.42 (remote-write receiver)" http://127.0.0.1:19090/api/v1/write http://127.0.0.1:19090/-/ready \
    prometheus --web.enable-remote-write-receiver --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
    --web.listen-address=127.0.0.1:19090 --log.level=error
fi

[ ${#labels[@]} -gt 0 ] || { echo "no targets in SLUICE_BENCH_TARGETS=\"$targets\"" >&2; exit 1; }

# The table: one row per target; ratios against the VictoriaMetrics row when it ran.
vm_rate=0
if [ -f "$tmp/vm.json" ]; then vm_rate=$(jq '.throughput.samplesPerSecond' "$tmp/vm.json"); fi
table() {
  echo "| target | samples/s | CPU-s per M samples | peak RSS (MiB) | vs VictoriaMetrics | failed requests |"
  echo "|---|---:|---:|---:|---:|---:|"
  local row name label rate acked failed
  for row in "${labels[@]}"; do
    name=${row%%|*} label=${row#*|}
    read -r rate acked failed < <(jq -r '"\(.throughput.samplesPerSecond) \(.samples.acknowledged) \(.requests.failed)"' "$tmp/$name.json")
    awk -v label="$label" -v rate="$rate" -v acked="$acked" -v failed="$failed" -v vm="$vm_rate" \
        -v cpu="$(cat "$tmp/$name.ticks")" -v hz="$ticks" -v hwm="$(cat "$tmp/$name.hwm_kb")" 'BEGIN {
      printf "| %s | %.0f | %s | %.0f | %s | %d |\n", label, rate,
        (acked > 0 ? sprintf("%.2f", cpu / hz / (acked / 1e6)) : "n/a"), hwm / 1024,
        (vm > 0 ? sprintf("%.2f×", rate / vm) : "n/a"), failed
    }'
  done
}
debian_version() { dpkg-query -W -f='${Version}' "$1"; }
footnotes() {
  local row name
  for row in "${labels[@]}"; do
    name=${row%%|*}
    case $name in
      insert-rf1) echo "- **sluice insert, RF=1**: \`sluice insert\` forwarding each series to one of three NullSink nodes (\`Benchmarks/Benchmarks/NullSink\`), which read each body and discard it. The sinks run on CPU 1 with the load generator, so this row measures insert's own core; CPU and RSS are the insert process's only." ;;
      insert-rf3) echo "- **sluice insert, RF=3**: the same, each series forwarded to all three sinks (write quorum 2)." ;;
      storage) echo "- **sluice storage**: one storage node, its defaults: WAL fsync always (a 2xx means the samples are synced to disk), 2 h blocks." ;;
      up) echo "- **sluice up**: the whole cluster in one process on CPU 0, its defaults: 3 storage nodes (WAL fsync always), RF=2, write quorum 1, insert and select; insert hands parts to the nodes in process." ;;
      up-1) echo "- **sluice up --nodes 1 --replication-factor 1**: the same with one storage node." ;;
      vm) echo "- **VictoriaMetrics single-node**: Debian's victoria-metrics $(debian_version victoria-metrics), \`-retentionPeriod=100y\`." ;;
      prometheus) echo "- **Prometheus**: Debian's prometheus $(debian_version prometheus), \`--web.enable-remote-write-receiver\`, a config with no scrapes." ;;
    esac
    local other steal; read -r other steal <"$tmp/$name.lost"
    if [ "$other" -ge 5 ] || [ "$steal" -ge 5 ]; then
      echo "  CPU 0 lost ${other}% of this run to other processes and ${steal}% to hypervisor steal: its figures may be low."
    fi
    local odd; odd=$(jq -r '[.statusCodes | to_entries[] | select(.key | startswith("2") | not) | "\(.key) × \(.value)"] | join(", ")' "$tmp/$name.json")
    [ -z "$odd" ] || echo "  Answers other than 2xx: $odd."
  done
}

# The sections after this table (from the first "## " heading) are other benchmarks' and are kept.
kept=""
if [ -f BENCHMARKS.md ]; then kept=$(awk '/^## / {on = 1} on' BENCHMARKS.md); fi
cat >BENCHMARKS.md <<MD
# Sluice ingest benchmark against peers

$(date -u +%F), $(uname -srm), $(grep -m 1 'model name' /proc/cpuinfo | sed 's/^.*: //'), $(nproc) CPUs.
sluice: ${SLUICE_BIN:-commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo " with local changes")}.

Each target in turn gets the same remote-write load for ${seconds} s from \`sluice loadgen\`:

\`\`\`sh
taskset -c 1 sluice loadgen --url URL ${loadgen[*]} --report FILE
\`\`\`

The server runs pinned to CPU 0 (\`taskset -c 0\`), the load generator to CPU 1 (\`taskset -c 1\`).
Samples/s counts acknowledged samples (2xx answers) over the load generator's run. CPU-s per M
samples is the server process's utime + stime from \`/proc\` during the run over the million samples
it acknowledged; peak RSS is its \`VmHWM\` at the end.

$(table)

$(footnotes)
- Warm-up: every run's series are new. The first tick (one sample per series, which creates them) is
  sent before loadgen's clock starts (\`--warmup-ticks 1\`) and left out of every figure; the server's
  CPU time is sampled every 0.1 s and counted over the measured span only.
- Every figure comes from one run, not an average: rerun before trusting a small difference.
- Reproduce with \`make bench-peers\` or \`Benchmarks/peers.sh ${seconds}\` (\`SLUICE_BENCH_TARGETS="insert-rf1 insert-rf3 storage up vm prometheus"\` picks rows).
MD
if [ -n "$kept" ]; then printf '\n%s\n' "$kept" >>BENCHMARKS.md; fi

echo
table
echo
echo "Written to BENCHMARKS.md" >&2
