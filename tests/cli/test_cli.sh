#!/bin/sh
# test_cli.sh - codegreen's CLI end to end: `info` tells the truth about fixture machines,
# `sample` measures the simulated device and warns of counters that never move, bad usage fails
# with usage and exit 2.
# usage: test_cli.sh CODEGREEN_BIN FIXTURES_DIR
cg=$1
fx=$2
. "$(dirname "$0")/lib.sh"
contains() { grep -q -- "$2" "$1"; }

# A VM with no counters: powercap absent with the reason, estimate used and labelled.
CODEGREEN_SYSFS_ROOT="$fx/estimate" "$cg" info >"$tmp/out" 2>&1
check "info exits 0 without counters" test $? -eq 0
check "info names the VM" contains "$tmp/out" "virtual machine"
check "info explains powercap is absent" contains "$tmp/out" "no RAPL zones"
check "info says figures are estimated" contains "$tmp/out" "ESTIMATED, not measured"
check "info lists the estimate domain" contains "$tmp/out" "cpu-estimate"

# An Intel client: measured, with its topology.
CODEGREEN_SYSFS_ROOT="$fx/intel-client" "$cg" info >"$tmp/out" 2>&1
check "info on intel-client exits 0" test $? -eq 0
check "info says measured" contains "$tmp/out" "MEASURED by hardware"
check "info shows package includes" contains "$tmp/out" "core, uncore"
check "info on intel-client: powercap is in use" grep -Eq "^  powercap +IN USE" "$tmp/out"
check "info on intel-client: sim only available" \
  grep -Eq "^  sim +available \(used only when named in CODEGREEN_PROVIDERS\)" "$tmp/out"

# newuser2 item 16: sim named in CODEGREEN_PROVIDERS is said to be in use, not only available.
CODEGREEN_PROVIDERS=sim "$cg" info >"$tmp/out" 2>&1
check "info with CODEGREEN_PROVIDERS=sim: sim is in use" \
  grep -Eq "^  sim +IN USE \(used only when named in CODEGREEN_PROVIDERS\)" "$tmp/out"
CODEGREEN_PROVIDERS=sim "$cg" info --json >"$tmp/json" 2>&1
check "info --json: in_use on each provider" /usr/bin/python3 -c "
import json
d=json.load(open('$tmp/json'))
assert [p['name'] for p in d['providers'] if p['in_use']]==['sim'], d['providers']"

# Issue 10, item 3: a zone without max_energy_range_uj does not refuse powercap: measured, and
# the zone is listed with its reason and fix.
rm -rf "$tmp/ic" && cp -a "$fx/intel-client" "$tmp/ic"
rm -f "$tmp/ic/sys/devices/virtual/powercap/intel-rapl/intel-rapl:1/max_energy_range_uj"
CODEGREEN_SYSFS_ROOT="$tmp/ic" "$cg" info >"$tmp/out" 2>&1
check "info: one bad zone keeps powercap measured" contains "$tmp/out" "MEASURED by hardware"
check "info: the bad zone is listed" contains "$tmp/out" "not fully usable: psys"
check "info: with its fix" contains "$tmp/out" "taken as a reset"

# --json is valid JSON with the selection.
CODEGREEN_SYSFS_ROOT="$fx/intel-server-2s" "$cg" info --json >"$tmp/json" 2>&1
check "info --json exits 0" test $? -eq 0
check "info --json parses" /usr/bin/python3 -c "
import json,sys
d=json.load(open('$tmp/json'))
sel=d['selection']
assert sel['mode']=='measured', sel
names=[x['name'] for x in sel['domains']]
assert names==['package-0','dram-0','package-1','dram-1'], names
"

# This machine, as it is: info must run and say whether it measures or estimates.
"$cg" info >"$tmp/out" 2>&1
check "info on this machine exits 0" test $? -eq 0
check "info on this machine states measured or estimated" \
  grep -Eq "MEASURED|ESTIMATED|No energy can be reported" "$tmp/out"

# Every line of `codegreen info` fits in 100 columns, on every fixture machine (reasons wrap).
wide=""
for root in "$fx"/*/; do
  CODEGREEN_SYSFS_ROOT="$root" "$cg" info >"$tmp/out" 2>&1
  if awk 'length($0) > 100 { bad = 1 } END { exit !bad }' "$tmp/out"; then wide="$wide $root"; fi
done
check "info lines within 100 columns ($wide)" test -z "$wide"

# sample with the simulated device: 0.5 s of the default sim is about 10 J package + 1.5 J DRAM.
CODEGREEN_PROVIDERS=sim "$cg" sample -d 0.5 --json >"$tmp/json" 2>"$tmp/err"
check "sample exits 0" test $? -eq 0
check "sample --json is right" /usr/bin/python3 -c "
import json
d=json.load(open('$tmp/json'))
assert d['energy_source']=='simulated', d  # never 'measured'
assert d['quality']=='ok', d  # run's verdict (meta.measurement_quality), not the source
p=d['domains']['package-0']['energy_j']; dr=d['domains']['dram']['energy_j']
assert abs(d['energy_j']-(p+dr))<1e-5, d
assert abs(d['avg_power_w']-23.0)<1.5, d   # 20 W package + 3 W DRAM
assert d['sampler']['samples']>=2, d  # how many a busy machine lets through is not checked
assert d['warnings']==[], d  # the sim's counters move
"
CODEGREEN_PROVIDERS=sim "$cg" sample -d 0.2 -i 10 >"$tmp/out" 2>&1
check "sample text shows domains" contains "$tmp/out" "package-0"
check "sample honours -i" contains "$tmp/out" "at 10 ms intervals"

# Counters that never move (the fixture's files stay as they are): the same warning as run's,
# the library's meta.sampler.warnings, in the text and in --json; the sim's moving ones: none.
CODEGREEN_SYSFS_ROOT="$fx/intel-server-2s" "$cg" sample -d 1.2 >"$tmp/out" 2>&1
check "sample on frozen counters exits 0" test $? -eq 0
check "sample warns that frozen counters are no measurement of zero" contains "$tmp/out" \
  "^warning: domains package-0 (powercap, update period unknown), dram-0 .* never changed in 1\.[0-9]* s: their 0 J is no measurement of zero"
# ... and its figures agree: no update period for a counter never seen to update, and no 0 J
# shown as measured (newuser: "energy 0.0000 J [measured]", "updates every 1 ms").
check "sample on frozen counters: no update period claimed" sh -c "! grep -q 'updates every' '$tmp/out'"
check "sample on frozen counters: a domain's figure is 'never changed'" grep -Eq \
  "^  package-0 +powercap +never changed +- +yes" "$tmp/out"
check "sample on frozen counters: the total is 'never changed'" grep -Eq \
  "^  energy_j +never changed +-$" "$tmp/out"
CODEGREEN_SYSFS_ROOT="$fx/intel-server-2s" "$cg" sample -d 1.2 --json >"$tmp/json" 2>/dev/null
check "sample --json carries the warning, and null for the energy never counted" /usr/bin/python3 -c "
import json; d=json.load(open('$tmp/json'))
assert len(d['warnings'])==2 and 'never changed' in d['warnings'][1], d
assert 'updates every' not in d['warnings'][1], d
assert d['energy_j'] is None and d['avg_power_w'] is None, d
p=d['domains']['package-0']; assert p['energy_j'] is None and p['never_changed'] is True, d
assert d['quality']=='energy_zero', d  # run's verdict, never 'measured'"
# --json's warnings are the text's, the verdict's first ("measurement_quality is ...").
grep '^warning: ' "$tmp/out" | sed 's/^warning: //' >"$tmp/text_warnings"
check "sample --json's warnings equal the text's" py "
import json; d=json.load(open('$tmp/json'))
text=open('$tmp/text_warnings').read().splitlines()
assert d['warnings'][0]=='measurement_quality is \\\"energy_zero\\\"', d['warnings']
assert [w.replace(' 1.2','') for w in d['warnings']]==[w.replace(' 1.2','') for w in text], (d['warnings'], text)"
# run on the same frozen counters: the same, in its summary and its report.
CODEGREEN_SYSFS_ROOT="$fx/intel-client" "$cg" run -o "$tmp/frozen.json" -o "$tmp/frozen.md" \
  -o "$tmp/frozen.csv" -- sleep 1.2 >/dev/null 2>"$tmp/out"
check "run on frozen counters: the energy is unknown, not 0 J measured" grep -Eq \
  "^  energy +unknown: the counters never changed" "$tmp/out"
check "run on frozen counters: no '[measured]' and no 0.0000 J energy" \
  sh -c "! grep -Eq '\[measured\]|^  energy +0\.0000 J' '$tmp/out'"
check "run on frozen counters: a domain is 'never changed'" grep -Eq \
  "^    package-0 +never changed  in total \(powercap\)" "$tmp/out"
check "run on frozen counters: no update period claimed" sh -c "! grep -q 'updates every' '$tmp/out'"
check "run on frozen counters: the report has no period and lists them" py "
import json; s=json.load(open('$tmp/frozen.json'))['meta']['sampler']
assert s['update_period_us']['package-0'] is None, s['update_period_us']
assert s['nominal_update_period_us']['package-0']==1000, s
assert sorted(s['never_changed'])==['core','package-0','psys','uncore'], s['never_changed']"
# ... and no output shows their 0 J as a figure: unknown, an empty cell, null.
check "run on frozen counters: the attributed energy is unknown" grep -Eq \
  "^  attributed +unknown: the counters never changed" "$tmp/out"
check "run on frozen counters: no 0.0000 J attributed" sh -c "! grep -q 'J to the command' '$tmp/out'"
check "run on frozen counters: the Markdown says unknown, with no ratio" grep -Eq \
  "^\| \`sleep 1\.2\` \| unknown \| unknown \| unknown \| 1\.[0-9]+ \| unknown \| n/a \|$" \
  "$tmp/frozen.md"
check "run on frozen counters: the CSV's energy and power cells are empty" py "
import csv; r=list(csv.DictReader(open('$tmp/frozen.csv')))[0]
for k in ('energy_j','avg_power_w','attributed_energy_j','attributed_gpu_energy_j',
          'unattributed_energy_j','energy_above_idle_j'):
    assert r[k]=='', (k, r)
assert float(r['duration_s']) > 1, r"
check "run on frozen counters: the JSON's energy figures are null" py "
import json; d=json.load(open('$tmp/frozen.json'))
for b in ('energy_j','avg_power_w'):
    s=d['statistics'][b]; assert s['n_used']==1, s
    assert all(s[k] is None for k in ('mean','median','std','min','max','ci95_low','ci95_high')), s
assert d['statistics']['duration_s']['mean'] > 1, d['statistics']
r=d['runs'][0]
assert r['energy_j'] is None and r['attributed_energy_j'] is None, r"
# Counters that move: a period each, nothing listed.
CODEGREEN_PROVIDERS=sim "$cg" run -o "$tmp/moving.json" -- sleep 0.3 >/dev/null 2>&1
check "run on moving counters: a period each, none never changed" py "
import json; s=json.load(open('$tmp/moving.json'))['meta']['sampler']
assert all(v > 0 for v in s['update_period_us'].values()), s['update_period_us']
assert s['never_changed']==[], s"

# A counter reset while sampling (the fixture's package counter set back, then counting on from
# there): sample's quality is run's verdict for it, "degraded", in --json and in the text.
reset_sample() { # ARGS...: sample's output in $tmp/out
  rm -rf "$tmp/reset" && cp -a "$fx/intel-client" "$tmp/reset"
  CODEGREEN_SYSFS_ROOT="$tmp/reset" "$cg" sample -d 1.5 "$@" >"$tmp/out" 2>"$tmp/err" &
  sp=$!
  # In place and at one width (leading zeros), so that no read sees a half-written file.
  py "
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
time.sleep(0.4)
for v in [74218600000, 74218700000, 1000, 2000, 3000, 4000, 5000, 6000, 7000]:
    os.pwrite(fd, b'%012d\n' % v, 0)
    time.sleep(0.08)
" "$tmp/reset/sys/devices/virtual/powercap/intel-rapl/intel-rapl:0/energy_uj"
  wait $sp
}
reset_sample --json
check "sample --json across a counter reset: quality degraded, as run says" py "
import json; d=json.load(open('$tmp/out'))
assert d['domains']['package-0']['counter_resets']==1, d
assert d['quality']=='degraded' and d['energy_source']=='measured', d"
reset_sample
check "sample across a counter reset: the text says degraded" contains "$tmp/out" \
  '^warning: measurement_quality is "degraded"'

# Errors and usage.
"$cg" frobnicate >"$tmp/out" 2>&1
check "unknown command exits 2" test $? -eq 2
check "unknown command names it" contains "$tmp/out" "unknown command 'frobnicate'"
"$cg" sample --bogus >"$tmp/out" 2>&1
check "unknown option exits 2" test $? -eq 2
for verb in info sample setup-permissions; do
  "$cg" $verb extra >"$tmp/out" 2>&1
  check "$verb with an operand exits 2" test $? -eq 2
  check "$verb names the operand, then its usage" grep -Pzq \
    "^codegreen $verb: unexpected argument 'extra'\nusage: codegreen $verb" "$tmp/out"
done
"$cg" sample -d -1 >"$tmp/out" 2>&1
check "bad duration exits 2" test $? -eq 2
CODEGREEN_PROVIDERS=nope "$cg" sample -d 0.1 >"$tmp/out" 2>&1
check "unknown provider exits 1" test $? -eq 1
check "unknown provider is explained" contains "$tmp/out" "unknown provider 'nope'"
# info fails as run does for a provider list that cannot measure (it exited 0), after showing
# everything it can.
CODEGREEN_PROVIDERS=bogus "$cg" info >"$tmp/out" 2>"$tmp/err"
check "info with CODEGREEN_PROVIDERS=bogus exits 1, as run" test $? -eq 1
check "info with a bogus provider still lists the providers" grep -Eq "^  sim +available" "$tmp/out"
check "info with a bogus provider says why on stderr" grep -q \
  "^codegreen info: cannot measure with the providers named by CODEGREEN_PROVIDERS: unknown provider 'bogus'" \
  "$tmp/err"
CODEGREEN_PROVIDERS=bogus "$cg" info --json >"$tmp/json" 2>/dev/null
check "info --json with a bogus provider: exit 1 and the JSON" sh -c \
  "test $? -eq 1 && /usr/bin/python3 -c 'import json; json.load(open(\"$tmp/json\"))'"
CODEGREEN_PROVIDERS=bogus "$cg" run -q -- true 2>/dev/null
check "run with CODEGREEN_PROVIDERS=bogus exits 1 too" test $? -eq 1
printf '{\n  "coordinator": {\n    "measurement_interval_ms": 0\n  }\n}\n' >"$tmp/bad.json"
"$cg" info -c "$tmp/bad.json" >"$tmp/out" 2>&1
check "out-of-range config exits 1" test $? -eq 1
check "out-of-range config names the key" contains "$tmp/out" "coordinator.measurement_interval_ms"
printf '{\n  "coordinator": {\n    "measurement_interval_ms": 1,\n  }\n}\n' >"$tmp/bad.json"
"$cg" info -c "$tmp/bad.json" >"$tmp/out" 2>&1
check "malformed config names line" contains "$tmp/out" "bad.json:4:"
"$cg" --version >"$tmp/out" 2>&1
check "version" contains "$tmp/out" "ABI 3"

# The exporter: "1 domain" for one, and a port in use named with its reason (not MHD's "port 0").
port=$(/usr/bin/python3 -c "
import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
CODEGREEN_PROVIDERS=sim CODEGREEN_SIM_CONFIG='{"domains":[{"name":"package-0","kind":"cpu_package","power_w":20}]}' \
  "$cg" exporter --listen "127.0.0.1:$port" 2>"$tmp/ex1.err" &
ex=$!
k=0
while ! grep -q "serving" "$tmp/ex1.err" 2>/dev/null && [ $k -lt 200 ]; do sleep 0.05; k=$((k + 1)); done
check "exporter: one domain is '1 domain'" contains "$tmp/ex1.err" "simulated energy, 1 domain, serving http://127.0.0.1:$port/metrics"
CODEGREEN_PROVIDERS=sim "$cg" exporter --listen "127.0.0.1:$port" >"$tmp/out" 2>&1
check "exporter: a port in use exits 1" test $? -eq 1
check "exporter: a port in use is named with its reason" contains "$tmp/out" \
  "cannot listen on 127.0.0.1:$port: Address already in use"
check "exporter: never 'port 0'" sh -c "! grep -q 'port 0' '$tmp/out'"
check "exporter: a port in use is said once (not libmicrohttpd's 'Failed to bind' first)" \
  sh -c "! grep -q 'Failed to bind' '$tmp/out'"
# A simulated domain is never labelled measured.
/usr/bin/python3 -c "
import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=10).read().decode())" >"$tmp/metrics" 2>&1
check "exporter: a simulated domain is measured=false" contains "$tmp/metrics" \
  'codegreen_domain_info{domain="package-0",kind="cpu_package",source="sim",top_level="true",in_total="true",measured="false"} 1'
kill -TERM $ex
wait $ex

finish cli
