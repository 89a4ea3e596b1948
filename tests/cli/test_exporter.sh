#!/bin/sh
# test_exporter.sh - `codegreen exporter --listen`: the URL it prints is one that works (port 0
# shows the port the system chose, a host name is resolved), an empty host is refused rather
# than exposing every interface by surprise, and idle connections cannot starve a scrape.
# usage: test_exporter.sh CODEGREEN_BIN
cg=$1
. "$(dirname "$0")/lib.sh"
contains() { grep -q -- "$2" "$1"; }
export CODEGREEN_PROVIDERS=sim
export CODEGREEN_SIM_CONFIG='{"domains":[{"name":"package-0","kind":"cpu_package","power_w":20}]}'

# start_exporter LISTEN ERRFILE: starts it in the background (pid in $ex) and waits until it
# says where it serves (or has exited).
start_exporter() {
  "$cg" exporter --listen "$1" 2>"$2" &
  ex=$!
  k=0
  while ! grep -q "serving" "$2" 2>/dev/null && kill -0 $ex 2>/dev/null && [ $k -lt 200 ]; do
    sleep 0.05
    k=$((k + 1))
  done
}
stop_exporter() {
  kill -TERM $ex 2>/dev/null
  wait $ex
}
# The URL the exporter printed ("serving http://H:P/metrics").
url_of() { sed -n 's|.*serving \(http://[^ ]*/metrics\).*|\1|p' "$1" | head -n 1; }
scrape() { # URL OUT: 0 when the metrics came back
  py "
import sys, urllib.request
body = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
open(sys.argv[2], 'w').write(body)
sys.exit(0 if 'codegreen_energy_joules_total' in body else 1)" "$1" "$2"
}

# Port 0: the port the system chose is printed, never ":0", and scraping that URL works.
start_exporter 127.0.0.1:0 "$tmp/p0.err"
url=$(url_of "$tmp/p0.err")
check "port 0: the printed URL has a real port ($url)" \
  sh -c "echo '$url' | grep -Eq '^http://127\.0\.0\.1:[1-9][0-9]*/metrics$'"
check "port 0: the printed URL serves the metrics" scrape "$url" "$tmp/m0"

# Idle connections (opened, nothing sent) do not make the next scrape fail: 200 of them, more
# than the 64 that blinded it, then a scrape while they are all still open.
check "200 idle connections, then a scrape succeeds" py "
import socket, sys, urllib.request
host, port = sys.argv[1].split('/')[2].split(':')
idle = []
for _ in range(200):
    s = socket.create_connection((host, int(port)), timeout=5)
    idle.append(s)
body = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
assert 'codegreen_energy_joules_total' in body, body
# and a partial request (headers never finished) is no worse than an idle socket
for s in idle[:20]:
    s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n')
body = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
assert 'codegreen_energy_joules_total' in body, body
" "$url"
stop_exporter

# A host name is resolved: the URL names it, with the address it is bound to.
start_exporter localhost:0 "$tmp/lh.err"
url=$(url_of "$tmp/lh.err")
check "localhost: accepted and served ($(cat "$tmp/lh.err"))" scrape "$url" "$tmp/mlh"
check "localhost: the URL keeps the name and has the real port" \
  sh -c "echo '$url' | grep -Eq '^http://localhost:[1-9][0-9]*/metrics$'"
check "localhost: the address bound is said" grep -Eq "bound to (127\.0\.0\.1|\[::1\]) port" \
  "$tmp/lh.err"
stop_exporter

# An IPv6 literal in brackets (skipped where the machine has no IPv6 loopback).
if py "import socket; socket.socket(socket.AF_INET6).bind(('::1', 0))" 2>/dev/null; then
  start_exporter "[::1]:0" "$tmp/v6.err"
  url=$(url_of "$tmp/v6.err")
  check "[::1]:0: the URL has the brackets and the real port ($url)" \
    sh -c "echo '$url' | grep -Eq '^http://\[::1\]:[1-9][0-9]*/metrics$'"
  check "[::1]:0: served" scrape "$url" "$tmp/m6"
  stop_exporter
fi

# Every interface only when asked by address; the message says so and gives a usable URL.
start_exporter 0.0.0.0:0 "$tmp/any.err"
check "0.0.0.0: said to be every IPv4 interface" contains "$tmp/any.err" "every IPv4 interface"
url=$(url_of "$tmp/any.err")
check "0.0.0.0: the URL printed is usable ($url)" scrape "$url" "$tmp/many"
stop_exporter

# Refused, exit 2, nothing bound: an empty host (was every interface, by surprise), a name
# that does not resolve, an IPv6 address without brackets, a bad port.
for bad in ":19466" "no-such-host.invalid:9464" "::1:9464" "127.0.0.1:65536" "127.0.0.1:" \
  "127.0.0.1"; do
  "$cg" exporter --listen "$bad" >"$tmp/out" 2>&1
  check "--listen '$bad' exits 2" test $? -eq 2
  check "--listen '$bad' is explained" contains "$tmp/out" "codegreen exporter: --listen '$bad'"
done
"$cg" exporter --listen ":19466" >"$tmp/out" 2>&1
check "an empty host: the way to ask for every interface is given" contains "$tmp/out" \
  "0.0.0.0:19466"
"$cg" exporter --listen "::1:9464" >"$tmp/out" 2>&1
check "an IPv6 address without brackets: the bracketed form is given" contains "$tmp/out" \
  "\[::1\]:9464"

finish exporter
