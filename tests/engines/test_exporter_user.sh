#!/bin/sh
# test_exporter_user.sh - `codegreen exporter` as an unprivileged user that reads the counters
# through a group, as contrib/codegreen-exporter.service runs it: a copy of the intel-client
# powercap fixture whose energy_uj files are readable by one group only (mode 0440, as
# `codegreen setup-permissions` leaves them); the exporter, run as nobody:nogroup, serves measured
# counters from it; with the group's read bit taken away it refuses to start and says why.
. "$(dirname "$0")/lib.sh"
: "${NEMB_SOURCE:?}"
need setpriv /usr/bin/python3
[ "$(id -u)" -eq 0 ] || skip "dropping to another user needs root (CI runs as root)"
NOBODY=$(id -u nobody 2>/dev/null) || skip "no user 'nobody' on this machine"
NOGROUP=$(id -g nobody)

FX="$WORK/fx"
cp -a "$NEMB_SOURCE/tests/fixtures/intel-client" "$FX"
chown -R "0:$NOGROUP" "$FX"
find "$FX" -type d -exec chmod 0755 {} +
find "$FX" -type f -exec chmod 0444 {} +
find "$FX" -name energy_uj -type f -exec chmod 0440 {} +
[ -n "$(find "$FX" -name energy_uj -type f)" ] || fail "the fixture has no energy_uj files"

PORT=$(free_port)
# Not through the function: a backgrounded function is a subshell, and $! would be its pid.
setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups \
  env CODEGREEN_SYSFS_ROOT="$FX" CODEGREEN_PROVIDERS=powercap \
  "$CODEGREEN_BIN" exporter --listen "127.0.0.1:$PORT" 2> "$WORK/exporter.log" &
EXPORTER=$!
started "$EXPORTER"
wait_for 20 http_get "http://127.0.0.1:$PORT/metrics" ||
  fail "the exporter (as nobody) does not answer: $(cat "$WORK/exporter.log")"
http_get "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt"
grep -q '^codegreen_measurement_info{energy_source="measured"} 1$' "$WORK/metrics.txt" ||
  fail "not measured: $(grep measurement_info "$WORK/metrics.txt")"
grep -q '^codegreen_energy_joules_total{domain="package-0",kind="cpu_package",source="powercap"} ' \
  "$WORK/metrics.txt" || fail "no powercap package counter: $(cat "$WORK/metrics.txt")"
ps -o user= -p "$EXPORTER" | grep -q nobody ||
  fail "the exporter is not running as nobody"

# Without the group's read bit the counters are closed to it: no exporter, and a reason.
find "$FX" -name energy_uj -type f -exec chmod 0400 {} +
PORT2=$(free_port)
if timeout 30 setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups \
  env CODEGREEN_SYSFS_ROOT="$FX" CODEGREEN_PROVIDERS=powercap \
  "$CODEGREEN_BIN" exporter --listen "127.0.0.1:$PORT2" 2> "$WORK/denied.log"; then
  fail "the exporter started without read access to the counters"
fi
grep -qi "permission" "$WORK/denied.log" ||
  fail "no permission message: $(cat "$WORK/denied.log")"
echo ok
