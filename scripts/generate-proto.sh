#!/usr/bin/env bash
# Regenerates the C code for proto/ with Debian's protoc-c (package protobuf-c-compiler).
#
#   scripts/generate-proto.sh           write into Sources/CSluiceProto
#   scripts/generate-proto.sh DIR       write into DIR instead (the staleness test uses this)
#
# The output is committed, so a build never needs protoc-c; a test fails when it is stale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/Sources/CSluiceProto}
command -v protoc-c >/dev/null || { echo "protoc-c not found: apt-get install -y protobuf-c-compiler" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root/proto"
protos=(types.proto remote.proto io/prometheus/write/v2/types.proto)
protoc-c --c_out="$tmp" -I. "${protos[@]}"

# Sources beside the target's root, headers under include/ so SwiftPM exports them.
mkdir -p "$out/include"
(cd "$tmp" && find . -name '*.pb-c.c') | while read -r f; do
  mkdir -p "$out/$(dirname "$f")"; cp "$tmp/$f" "$out/$f"
done
(cd "$tmp" && find . -name '*.pb-c.h') | while read -r f; do
  mkdir -p "$out/include/$(dirname "$f")"; cp "$tmp/$f" "$out/include/$f"
done
