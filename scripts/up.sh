#!/usr/bin/env bash
# The README's first command: installs what is missing, builds a release binary, and starts a whole
# local cluster (insert, 3 storage nodes, select). Flags go to `sluice up`, e.g. --data-dir, --nodes.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build -c release --product sluice
exec .build/release/sluice up "$@"
