# lib.sh - what every end-to-end test in tests/cli shares. Source it after reading the
# arguments:  . "$(dirname "$0")/lib.sh"
# It sets -u, makes $tmp (a fresh directory, removed on exit) and isolates the test from the
# caller's configuration: no CODEGREEN_CONFIG, CODEGREEN_SYSFS_ROOT, CODEGREEN_SIM_CONFIG,
# CODEGREEN_PROVIDERS or CODEGREEN_RESULT_FILE; XDG_CONFIG_HOME=$tmp/none (no user config) and
# XDG_RUNTIME_DIR=$tmp/xdg (its own process registry, mode 700).
# Counting: check NAME CMD... runs CMD and counts it passed or failed (printing "FAIL: NAME");
# ok [NAME] / fail NAME count a result decided by the caller (ok prints "ok: NAME" when named); finish LABEL prints
# "LABEL: P passed, F failed" and returns 0 only when nothing failed (make it the last command).
# py CODE [ARG...] runs Debian's python3 (never a virtualenv's) on CODE.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cg-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passes=0
failures=0
unset CODEGREEN_CONFIG CODEGREEN_SYSFS_ROOT CODEGREEN_SIM_CONFIG CODEGREEN_PROVIDERS \
  CODEGREEN_RESULT_FILE
export XDG_CONFIG_HOME="$tmp/none"
export XDG_RUNTIME_DIR="$tmp/xdg"
mkdir -m 700 "$XDG_RUNTIME_DIR"

check() { # NAME CMD...
  name=$1
  shift
  if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; failures=$((failures + 1)); fi
}
ok() { # [NAME]
  [ $# -eq 0 ] || echo "ok: $1"
  passes=$((passes + 1))
}
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
py() { /usr/bin/python3 -c "$@"; }
finish() { # LABEL
  echo "$1: $passes passed, $failures failed"
  [ "$failures" -eq 0 ]
}
