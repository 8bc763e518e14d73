#!/usr/bin/env bash
# Insert's route step alone, with no HTTP: snappy decompress, scan and validate, hash, place, copy,
# snappy compress per node. Routes loadgen-like bodies (MakeWriteBodies: node_exporter-like series,
# 2000 a body) over three nodes at RF 1 and RF 3, splicing in the tenant label as sluice insert does
# by default (SLUICE_TENANT_LABEL= routes without it), and prints, per RF:
#   - ns per sample, pinned to one core (taskset -c ${SLUICE_BENCH_CPU:-1});
#   - instructions per sample under valgrind --tool=callgrind, which counts the same on a noisy
#     machine, and the functions that take them.
#
#   Benchmarks/insert-hotpath.sh [rounds]     # rounds of the 10 bodies timed, default 100
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-100}
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
swift build -c release --product MakeWriteBodies >/dev/null
swift build -c release --product HotPathProfile >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.build/release/MakeWriteBodies "$tmp/bodies" 10 1 2000 >/dev/null
# valgrind 3.19 cannot read Swift 6's DWARF 5: profile a copy without debug info (symbols stay).
objcopy --strip-debug .build/release/HotPathProfile "$tmp/HotPathProfile"
for rf in 1 3; do
  echo "== RF $rf"
  taskset -c "${SLUICE_BENCH_CPU:-1}" "$tmp/HotPathProfile" "$rf" "$rounds" "$tmp/bodies"
  # One round (20,000 samples) with the setup, then six: the difference is five rounds' cost.
  one=$(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg1" "$tmp/HotPathProfile" "$rf" 1 "$tmp/bodies" 2>&1 | sed -n 's/.*refs: *//p' | tr -d ,)
  six=$(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg6" "$tmp/HotPathProfile" "$rf" 6 "$tmp/bodies" 2>&1 | sed -n 's/.*refs: *//p' | tr -d ,)
  echo "instructions per sample: $(( (six - one) / 100000 ))"
  callgrind_annotate "$tmp/cg6" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,11p' | swift demangle --simplified | cut -c1-150
done
