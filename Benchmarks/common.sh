# What the benchmark scripts that start servers share. Source it from the repository root: it makes
# $tmp (removed on exit), stops $server and $sinks on exit when they hold a pid, and defines:
#   quiet CMD…       runs CMD, showing its output only if it fails (then exits)
#   stop PID         SIGTERM, then SIGKILL after 30 s
#   wait_ready URL   waits up to 30 s for URL to answer 2xx
quiet() { local log; log=$("$@" 2>&1) || { echo "$log" | tail -n 30 >&2; echo "failed: $*" >&2; exit 1; }; }

tmp=$(mktemp -d)
server=""
sinks=""
stop() { # pid: SIGTERM, then SIGKILL after 30 s
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 300); do [ -e "/proc/$1" ] || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  [ -z "$server" ] || stop "$server"
  [ -z "$sinks" ] || stop "$sinks"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_ready() { # url
  for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "not ready: $1" >&2; exit 1
}
