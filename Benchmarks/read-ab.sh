#!/usr/bin/env bash
# Two sluice binaries' remote read, in one run: each runs `sluice up` at its defaults on CPU 0, both
# get the same 10k series x 1 h (ReadBench data), and reads of TYPE (samples or streamed) alternate
# between them, curl on CPU 1, so the machine's slow spells fall on both alike. Prints each one's
# median read time and what its last answer held. For comparing a change with the code before it.
#
#   Benchmarks/read-ab.sh TYPE READS BINARY_A BINARY_B
set -euo pipefail
cd "$(dirname "$0")/.."
type=$1 reads=$2 a=$3 b=$4
(cd Benchmarks && swift build -c release --product ReadBench >/dev/null)
bench=$PWD/Benchmarks/.build/release/ReadBench
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
start=$(( ($(date +%s) - 7200) * 1000 ))
end=$(( start + 239 * 15000 ))
"$bench" bodies "$tmp/bodies" 10000 240 15000 "$start" >/dev/null
taskset -c 0 "$a" up --data-dir "$tmp/a" --insert-port 19231 --select-port 19232 --storage-port 19331 >"$tmp/a.log" 2>&1 &
pids+=($!)
taskset -c 0 "$b" up --data-dir "$tmp/b" --insert-port 19241 --select-port 19242 --storage-port 19341 >"$tmp/b.log" 2>&1 &
pids+=($!)
for port in 19232 19242; do
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done
done
for body in "$tmp"/bodies/*.bin; do
  for port in 19231 19241; do
    curl -sf -o /dev/null -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: snappy' \
      -H 'X-Prometheus-Remote-Write-Version: 0.1.0' --data-binary @"$body" "http://127.0.0.1:$port/api/v1/write"
  done
done
"$bench" request "$tmp/$type.req" "$start" "$end" "$type"
read_once() { # port name
  taskset -c 1 curl -s -o "$tmp/answer-$2" -w '%{time_total}\n' -H 'Content-Type: application/x-protobuf' \
    -H 'Content-Encoding: snappy' -H 'X-Prometheus-Remote-Read-Version: 0.1.0' --data-binary @"$tmp/$type.req" \
    "http://127.0.0.1:$1/api/v1/read" >>"$tmp/times-$2"
}
for _ in $(seq "$reads"); do read_once 19232 a; read_once 19242 b; done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "A $a: median $(median "$tmp/times-a") s, answer $("$bench" count "$tmp/answer-a" "$type") (series samples)"
echo "B $b: median $(median "$tmp/times-b") s, answer $("$bench" count "$tmp/answer-b" "$type") (series samples)"
