#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each over its seed corpus for a number of executions.
#
#   Fuzz/run.sh [runs] [target...]      runs defaults to 1000000; targets default to all of them
#
# Runs every target, then fails if any crashed, trapped, passed -rss_limit_mb or hung past -timeout;
# the input is kept in Fuzz/artifacts/<target>/. Replay one with `Fuzz/run.sh replay <target> <file>`.
# Inputs the fuzzer finds interesting go to Fuzz/.corpus/<target>/ (ignored by git) and seed the next
# run; the committed seeds in Fuzz/corpus/<target>/ and the Prometheus captures in ../shared/fixtures
# are only read.
#
# SLUICE_FUZZ_CONFIG: release (default; -O with ASan and libFuzzer) or debug (Swift's debug
# preconditions too, two to five times slower). The first release build compiles the whole dependency
# tree with the sanitizers, about 15 minutes on two cores; later runs reuse Fuzz/.build-fuzz.
# SLUICE_FUZZ_SCANNER_IMPLIES_DECODER=1: see Fuzz/Sources/FuzzRemoteWrite.
# The generated seeds are rewritten by Fuzz/.build-fuzz/release/FuzzSeeds Fuzz/corpus.
set -euo pipefail
caller="$PWD"
cd "$(dirname "$0")"
../scripts/setup.sh

all=(FuzzSnappy FuzzRemoteWrite FuzzReadRequest FuzzXORChunk FuzzWALRecord)
config="${SLUICE_FUZZ_CONFIG:-release}"
scratch=.build-fuzz
fixtures="${SLUICE_FIXTURES:-../../shared/fixtures/prometheus-2.42}"
# Swift's own backtracer would race libFuzzer's and ASan's crash handlers.
export SWIFT_BACKTRACE=enable=no

# ld.gold warns once per ASan symbol it cannot export: the log keeps the rest.
build() {
  local status=0
  mkdir -p "$scratch"
  swift build --package-path . -c "$config" --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address "$@" >"$scratch/build.log" 2>&1 || status=$?
  grep -v "Cannot export local symbol" "$scratch/build.log" | tail -20 >&2
  return $status
}

binary() { echo "$scratch/$config/$1"; }

if [ "${1:-}" = "replay" ]; then
  target="$2"; shift 2
  build --product "$target"
  # Paths are the caller's.
  args=()
  for arg in "$@"; do
    if [[ "$arg" != -* && "$arg" != /* ]]; then arg="$caller/$arg"; fi
    args+=("$arg")
  done
  exec "$(binary "$target")" -rss_limit_mb=2048 "${args[@]}"
fi

runs="${1:-1000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

echo "fuzz: building ${targets[*]} ($config, -sanitize=fuzzer,address)" >&2
build

# Real bodies: snappy blocks as Prometheus 2.42 sent them.
seeds() {
  echo "corpus/$1"
  case "$1" in
    FuzzSnappy | FuzzRemoteWrite) [ -d "$fixtures/remote-write" ] && echo "$fixtures/remote-write" ;;
    FuzzReadRequest) [ -d "$fixtures/remote-read" ] && echo "$fixtures/remote-read" ;;
  esac
  return 0
}

max_len() {
  case "$1" in
    FuzzSnappy | FuzzRemoteWrite | FuzzReadRequest) echo 131072 ;;
    *) echo 16384 ;;
  esac
}

failed=()
summary=()
start=$SECONDS
for target in "${targets[@]}"; do
  work=".corpus/$target"
  artifacts="artifacts/$target"
  mkdir -p "$work" "$artifacts"
  log="$artifacts/last-run.log"
  mapfile -t corpora < <(seeds "$target")
  echo "fuzz: $target: $runs runs over ${corpora[*]}" >&2
  began=$SECONDS
  status=0
  "$(binary "$target")" \
    -runs="$runs" -max_len="$(max_len "$target")" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$work" "${corpora[@]}" >"$log" 2>&1 || status=$?
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  elapsed=$((SECONDS - began))
  if [ "$status" -eq 0 ]; then
    result="ok"
  else
    result="FAILED (exit $status): $(grep -m1 -E 'ERROR:|Fatal error|Precondition failed|SUMMARY' "$log" || echo "see $log")"
    crash=$(ls -t "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/leak-* 2>/dev/null | head -1 || true)
    [ -n "$crash" ] && result="$result; input $crash"
    failed+=("$target")
    tail -40 "$log" >&2
  fi
  line=$(printf '%-16s %10s execs %7s exec/s %5ss  %s' "$target" "${executed:-?}" "${rate:-?}" "$elapsed" "$result")
  summary+=("$line")
  echo "fuzz: $line" >&2
done

echo
echo "fuzz: $runs runs per target, $((SECONDS - start))s in all"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed; the inputs are in Fuzz/artifacts/" >&2
  exit 1
fi
