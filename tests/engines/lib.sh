# lib.sh - shared by the engine tests (sourced): a temp dir removed at exit, free ports, waiting,
# checks in Python (/usr/bin/python3, always present where the tests run), skipping with a reason.
# Every daemon a test starts is recorded with `started PID` and killed at exit, by its pid.

set -eu
: "${CODEGREEN_BIN:?CODEGREEN_BIN must name the codegreen executable}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cg-engine.XXXXXX")
chmod 755 "$WORK"
export XDG_RUNTIME_DIR="$WORK/xdg"
mkdir -p "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
CG_PIDS=""

started() { CG_PIDS="$CG_PIDS $1"; }

cleanup() {
  if command -v before_cleanup >/dev/null 2>&1; then
    before_cleanup || true
  fi
  for pid in $CG_PIDS; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $CG_PIDS; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "${CG_KEEP:-0}" = 1 ]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

skip() {
  echo "SKIP: $*" >&2
  exit 77
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      skip "$tool is not installed (scripts/setup.sh --test installs it)"
  done
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.2 s until it succeeds.
wait_for() {
  limit=$(( $1 * 5 ))
  shift
  i=0
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt "$limit" ] || return 1
    sleep 0.2
  done
}

http_get() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    sys.stdout.write(r.read().decode())
PY
}

# A constant-power simulated package: the truth every test compares with.
SIM_POWER_W=${SIM_POWER_W:-20}
sim_config() {
  cat <<JSON
{"providers": {"list": "sim", "sim": {"update_interval_us": 1000,
  "domains": [{"name": "package-0", "kind": "cpu_package", "waveform": "constant",
               "power_w": $SIM_POWER_W}]}}}
JSON
}
