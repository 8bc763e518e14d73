#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with our own warnings treated as errors, then
# runs the swift-testing suites. This is the README's test command, and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test

log=$(mktemp)
trap 'rm -f "$log"' EXIT

check_warnings() {
  # Dependencies' warnings are theirs; ours fail the build (STYLE.md: CI builds with warnings as errors).
  if grep -E "^$PWD/(Sources|Tests)/.*: warning:" "$1"; then
    echo "test.sh: the build printed warnings in Sluice's own code" >&2
    exit 1
  fi
}

echo "== debug build with tests"
swift build --build-tests 2>&1 | tee "$log"
check_warnings "$log"

echo "== tests"
swift test --skip-build --disable-xctest 2>&1 | tee "$log"
