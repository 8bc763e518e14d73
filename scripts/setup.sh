#!/usr/bin/env bash
# Installs the Debian packages Sluice needs, only those missing. Run as root (or with sudo on PATH).
#
#   scripts/setup.sh          build dependencies: libsnappy, libprotobuf-c, protoc-c
#   scripts/setup.sh --test   also the real peers the tests run against, and the tools the deploy
#                             checks run (promtool comes with prometheus; nginx -t, systemd-analyze,
#                             yamllint)
set -euo pipefail

packages=(libsnappy-dev libprotobuf-c-dev protobuf-c-compiler pkg-config)
if [ "${1:-}" = "--test" ]; then
  packages+=(prometheus victoria-metrics prometheus-node-exporter curl etcd-server nginx-light systemd yamllint)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}" >&2
$sudo apt-get update -qq
# The Debian packages of prometheus, nginx and friends start their services on install; a policy-rc.d
# that refuses (exit 101) keeps them stopped while they install (tests start their own on loopback).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
