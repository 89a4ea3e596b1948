#!/bin/sh
# test_run_status.sh - how `codegreen run` reports a run that did not complete (new-user report 9:
# F12, F19, F10, F11, F13, F21, F22): a failed, killed or interrupted single run still shows its
# energy with how it ended (a signal named only when it killed the command's process), -i keeps
# the command's exit status, --push is checked before anything runs, --carbon-intensity reaches
# the CSV and Markdown and not the command's environment, -x keeps stderr a clean CSV stream,
# the summary and the Markdown give one relative figure, unattributed energy is exactly 0
# without a GPU, and the usage errors are short.
# usage: test_run_status.sh CODEGREEN_BIN
cg=$1
. "$(dirname "$0")/lib.sh"
export CODEGREEN_PROVIDERS=sim
# Constant 24 W in total (20 W package holding an 8 W core, 4 W DRAM), updated every microsecond.
export CODEGREEN_SIM_CONFIG='{"update_interval_us":1,"energy_unit_uj":0.001,"domains":[
  {"name":"package-0","kind":"cpu_package","waveform":"constant","power_w":20,"includes":["core"]},
  {"name":"core","kind":"nested","waveform":"constant","power_w":8},
  {"name":"dram","kind":"dram","waveform":"constant","power_w":4}]}'

# The summary's energy line of a run shown alone equals the run's energy_j in the report.
same_energy() { # REPORT ERR
  py "
import json,re,sys
r=json.load(open('$1'))['runs'][0]
m=re.search(r'^  energy +([0-9.]+) J', open('$2').read(), re.M)
assert m, open('$2').read()
assert abs(float(m.group(1))-r['energy_j'])<1e-4, (m.group(1), r['energy_j'])
assert r['energy_j']>0
"
}

# A command that fails: its energy, "failed (exit status 1)", the command's status.
"$cg" run -o "$tmp/f.json" -o "$tmp/f.md" -- sh -c 'sleep 0.05; exit 1' 2>"$tmp/err"
check "a failed run exits with its status" test $? -eq 1
check "a failed run is labelled" grep -q "(run-1 failed (exit status 1): not in the statistics)" "$tmp/err"
check "a failed run shows its energy" same_energy "$tmp/f.json" "$tmp/err"
check "no 'no completed run' for a single run" sh -c "! grep -q 'no completed run' '$tmp/err'"
check "the Markdown shows the failed run too" py "
import json
r=json.load(open('$tmp/f.json'))['runs'][0]
md=open('$tmp/f.md').read().splitlines()
cells=[c.strip() for c in md[2].strip('|').split('|')]
assert cells[1]=='%.4f'%r['energy_j'] and cells[-1]=='n/a: failed (exit status 1)', cells
"

# A warm-up that fails stops the repeats: it is shown with its figures, as a single failed run
# (it said "no completed run to report" and nothing else).
"$cg" run -w 2 -r 2 -o "$tmp/w.json" -o "$tmp/w.md" -- sh -c 'sleep 0.05; exit 1' 2>"$tmp/err"
check "a failed warm-up exits with its status" test $? -eq 1
check "a failed warm-up is labelled" grep -q "(warmup-1 failed (exit status 1): not in the statistics)" "$tmp/err"
check "a failed warm-up shows its energy" py "
import json,re
r=json.load(open('$tmp/w.json'))['runs']
assert len(r)==1 and r[0]['warmup'] and r[0]['energy_j']>0, r
m=re.search(r'^  energy +([0-9.]+) J', open('$tmp/err').read(), re.M)
assert m and abs(float(m.group(1))-r[0]['energy_j'])<1e-4, open('$tmp/err').read()
md=open('$tmp/w.md').read().splitlines()
cells=[c.strip() for c in md[2].strip('|').split('|')]
assert cells[1]=='%.4f'%r[0]['energy_j'] and cells[-1]=='n/a: failed (exit status 1)', cells
"
check "a failed warm-up: no 'no completed run'" sh -c "! grep -q 'no completed run' '$tmp/err'"

# -i: goes on and counts the run, and the exit status is still the command's (--help says so).
"$cg" run -q -i -- false 2>/dev/null
check "-i keeps the command's exit status" test $? -eq 1
"$cg" run -q -i -r 3 -o "$tmp/i.json" -- sh -c 'exit 5' 2>/dev/null
check "-i over repeats: the first failure's status" test $? -eq 5
check "-i ran every repeat and counted them" py "
import json
r=json.load(open('$tmp/i.json'))
assert len(r['runs'])==3 and all(x['in_statistics'] for x in r['runs']), r['runs']
"

# Killed by a signal (WIFSIGNALED) is named; a shell's 128+N exit status is not called a kill.
"$cg" run -o "$tmp/k.json" -- sh -c 'kill -KILL $$' 2>"$tmp/err"
check "SIGKILL gives 137" test $? -eq 137
check "SIGKILL is named" grep -q "(run-1 killed by SIGKILL (exit status 137): not in the statistics)" "$tmp/err"
check "the report names the signal" py "
import json
r=json.load(open('$tmp/k.json'))['runs'][0]
assert r['signal']=='SIGKILL' and r['exit_status']==137 and r['interrupted_by'] is None, r
"
"$cg" run -o "$tmp/s.json" -- sh -c 'exit 137' 2>"$tmp/err"
check "exit 137 passes through" test $? -eq 137
check "exit 137 is a failure, not a kill" grep -q "failed (exit status 137, a shell's status for a command killed by SIGKILL)" "$tmp/err"
check "exit 137 has no signal in the report" py "
import json
assert json.load(open('$tmp/s.json'))['runs'][0]['signal'] is None
"

# cmd | head: SIGPIPE.
"$cg" run -o "$tmp/p.json" -- yes 2>"$tmp/err" | head -1 >/dev/null
check "SIGPIPE is named" grep -q "killed by SIGPIPE (exit status 141; the reader of its output had gone" "$tmp/err"
check "SIGPIPE run shows its energy" same_energy "$tmp/p.json" "$tmp/err"

# SIGTERM to codegreen: interrupted, its energy shown, the JSON says which signal.
"$cg" run -o "$tmp/t.json" -- sh -c "touch '$tmp/started'; exec sleep 20" 2>"$tmp/err" &
pid=$!
i=0
while [ ! -e "$tmp/started" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
wait $pid
check "SIGTERM gives 143" test $? -eq 143
check "interrupted run is labelled" grep -q "(run-1 interrupted (codegreen got SIGTERM and passed it on; the command was killed by SIGTERM (exit status 143)): not in the statistics)" "$tmp/err"
check "interrupted run shows its energy" same_energy "$tmp/t.json" "$tmp/err"
check "interrupted_by in the report" py "
import json
r=json.load(open('$tmp/t.json'))['runs'][0]
assert r['interrupted'] and r['interrupted_by']=='SIGTERM' and r['signal']=='SIGTERM', r
"

# SIGTERM to codegreen while the command is stopped (SIGSTOP): passed on with a SIGCONT, so the
# command ends by it and codegreen does not wait forever (new-user report 10: it hung ~610 s).
stopped() { # PID: until a child of PID is stopped (10 s at most)
  k=0
  while [ $k -lt 200 ]; do
    ps -o stat= --ppid "$1" 2>/dev/null | grep -q '^T' && return 0
    sleep 0.05
    k=$((k + 1))
  done
  return 1
}
ended() { # PID: until PID has ended (20 s at most), else kill it and say no
  k=0
  while [ $k -lt 400 ]; do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
    k=$((k + 1))
  done
  pkill -KILL -P "$1"
  kill -KILL "$1"
  return 1
}
for vs in "" "--vs-- true"; do
  # shellcheck disable=SC2086
  "$cg" run -q -o "$tmp/stop.json" -- sh -c 'kill -STOP $$; echo resumed' $vs >"$tmp/stop.out" \
    2>"$tmp/stop.err" &
  pid=$!
  check "a stopped command is seen stopped ($vs)" stopped $pid
  kill -TERM $pid
  check "SIGTERM to codegreen ends a stopped command ($vs)" ended $pid
  wait $pid
  check "a stopped command killed by SIGTERM: 143 ($vs)" test $? -eq 143
  check "a stopped command: SIGTERM acted before it resumed ($vs)" test ! -s "$tmp/stop.out"
  check "a stopped command: its run is in the report ($vs)" py "
import json
r=json.load(open('$tmp/stop.json'))['runs'][0]
assert r['interrupted_by']=='SIGTERM' and r['signal']=='SIGTERM', r
"
done

# --push is checked before the command runs.
"$cg" run -q --push notaurl -- touch "$tmp/pushed" 2>"$tmp/err"
check "--push notaurl is a usage error" test $? -eq 2
check "--push notaurl: nothing was run" test ! -e "$tmp/pushed"
check "--push notaurl is explained" grep -q "^codegreen run: --push: Pushgateway URL 'notaurl' must start with http:// or https://; nothing was run$" "$tmp/err"

# ... by libcurl's URL parser: each of these passed a hand-written check and failed after the run.
for url in 'http://a b' 'http://host:notaport' 'http://host:99999' 'http://[::1' 'http://host:0'; do
  rm -f "$tmp/pushed"
  "$cg" run -q --push "$url" -- touch "$tmp/pushed" 2>"$tmp/err"
  check "--push '$url' is a usage error" test $? -eq 2
  check "--push '$url': nothing was run" test ! -e "$tmp/pushed"
  check "--push '$url' is explained" grep -qF "codegreen run: --push: Pushgateway URL '$url' " "$tmp/err"
done

# A password in the --push URL is never printed: neither when the push fails nor when the URL
# is refused.
"$cg" run -q --push 'http://user:secret@127.0.0.1:1' -- true 2>"$tmp/err"
check "a failed push names the URL without its password" grep -qF "cannot push to http://user:***@127.0.0.1:1/" "$tmp/err"
check "a failed push does not print the password" sh -c "! grep -q secret '$tmp/err'"
"$cg" run -q --push 'http://user:secret@host:0' -- true 2>"$tmp/err"
check "a refused URL is shown without its password" grep -qF "Pushgateway URL 'http://user:***@host:0' has a port" "$tmp/err"

# --carbon-intensity: co2e_g per run in the JSON and CSV, a CO2e column in the Markdown, the
# flag named in meta.carbon.from, and not in the command's environment.
"$cg" run -q --carbon-intensity 300 -o "$tmp/c.json" -o "$tmp/c.csv" -o "$tmp/c.md" -- env \
  >"$tmp/env" 2>/dev/null
check "the command does not inherit the flag" sh -c "! grep -q CODEGREEN_CARBON_INTENSITY '$tmp/env'"
check "co2e_g in the run, the CSV and the Markdown" py "
import csv,json
r=json.load(open('$tmp/c.json'))
assert r['meta']['carbon']['from']=='--carbon-intensity', r['meta']['carbon']
run=r['runs'][0]
assert abs(run['co2e_g']-run['energy_j']*300/3.6e6)<1e-12, run
row=list(csv.DictReader(open('$tmp/c.csv')))[0]
assert abs(float(row['co2e_g'])-run['co2e_g'])<1e-15, row
md=open('$tmp/c.md').read().splitlines()
head=[c.strip() for c in md[0].strip('|').split('|')]
cells=[c.strip() for c in md[2].strip('|').split('|')]
assert 'CO2e [g]' in head, md
assert cells[head.index('CO2e [g]')]=='%.6f'%run['co2e_g'], (cells, run['co2e_g'])
"
CODEGREEN_CARBON_INTENSITY=50 "$cg" run -q --carbon-intensity 300 -o "$tmp/c2.json" -- env \
  >"$tmp/env" 2>/dev/null
check "the user's own variable reaches the command unchanged" grep -qx "CODEGREEN_CARBON_INTENSITY=50" "$tmp/env"
check "the flag wins over the variable for codegreen" py "
import json
assert json.load(open('$tmp/c2.json'))['meta']['carbon']['intensity_g_per_kwh']==300
"
"$cg" run -q -o "$tmp/n.csv" -- true 2>/dev/null
check "without an intensity co2e_g is an empty cell" py "
import csv
row=list(csv.DictReader(open('$tmp/n.csv')))[0]
assert row['co2e_g']=='', row
"

# -I -x ,: stderr is one CSV (the README's 2>power.csv), the summary left out.
"$cg" run -I 50 -x , -o "$tmp/x.json" -- sleep 0.2 2>"$tmp/power.csv"
check "-x stream exits 0" test $? -eq 0
check "-x stream is a clean CSV" py "
import csv
rows=list(csv.reader(open('$tmp/power.csv')))
assert rows[0][:3]==['time_s','energy_j','power_w'], rows[0]
assert len(rows)>=2 and all(len(x)==len(rows[0]) for x in rows), rows
for x in rows[1:]: [float(v) for v in x]
"

# One relative figure: the Markdown's Relative is the summary's ratio (the report's comparison),
# and the header counts the runs the figures are over (outliers set aside are not).
cat >"$tmp/job.sh" <<'JOB'
#!/bin/sh
n=$(cat "$1" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$1"
if [ "$n" -eq 3 ]; then sleep 3; else sleep 0.1; fi
JOB
chmod +x "$tmp/job.sh"
"$cg" run -r 6 -o "$tmp/cmp.json" -o "$tmp/cmp.md" -- "$tmp/job.sh" "$tmp/count" --vs-- sleep 0.2 \
  2>"$tmp/err"
check "one relative figure and the runs counted" py "
import json,re
r=json.load(open('$tmp/cmp.json'))
c=r['comparison'][0]
want='%.2f ± %.2f' % (c['energy_ratio'], c['energy_ratio_std'])
md=open('$tmp/cmp.md').read().splitlines()
head=[x.strip() for x in md[0].strip('|').split('|')]
rel=[[x.strip() for x in l.strip('|').split('|')][head.index('Relative')] for l in md[2:]]
assert rel==['1.00', want], (rel, want)
err=open('$tmp/err').read()
assert (\"uses %s × the energy of\" % want) in err, err
st=r['commands'][0]['statistics']
n=st['energy_j']['n_used']
assert n<6 and st['energy_j']['n_outliers']==6-n, st
assert ('(%d runs in the statistics of 6; %d outlier' % (n, 6-n)) in err, err
"
check "unattributed energy is exactly 0 without a GPU" py "
import json
r=json.load(open('$tmp/cmp.json'))
assert all(x['unattributed_energy_j']==0 for x in r['runs']), [x['unattributed_energy_j'] for x in r['runs']]
"

# Every warning of the summary is in the report's top-level warnings too (they were only on
# stderr: `run --json -r 3 -- true` gave "warnings": []). same_warnings ERR REPORT [WANT]: each
# "  warning     X" line of ERR is "warning: X" in REPORT, and WANT is among them.
same_warnings() {
  py "
import json,sys
said=[l[len('  warning     '):] for l in open('$1').read().splitlines() if l.startswith('  warning     ')]
w=json.load(open('$2'))['warnings']
assert said, open('$1').read()
for x in said:
    assert any(y.startswith('warning: ') and y.endswith(x) for y in w), (x, w)
assert any('$3' in y for y in w), ('$3', w)
"
}
# under 50 counter updates: a simulated counter that updates every 100 ms
CODEGREEN_SIM_CONFIG='{"update_interval_us":100000,"domains":[{"name":"package-0","kind":"cpu_package","waveform":"constant","power_w":20}]}' \
  "$cg" run -r 3 -o "$tmp/w1.json" -- true 2>"$tmp/w1.err"
check "under 50 counter updates: in the report's warnings" same_warnings "$tmp/w1.err" "$tmp/w1.json" "under 50 counter updates"
CODEGREEN_SIM_CONFIG='{"update_interval_us":100000,"domains":[{"name":"package-0","kind":"cpu_package","waveform":"constant","power_w":20}]}' \
  "$cg" run --json -r 3 -- true 2>"$tmp/w1j.json"
check "under 50 counter updates: in --json's warnings" py "
import json
w=json.load(open('$tmp/w1j.json'))['warnings']
assert any('under 50 counter updates' in x for x in w), w"
# CV >= 10 %: runs of 0.1 s and 0.4 s in turn at constant power
cat >"$tmp/alt.sh" <<'ALT'
#!/bin/sh
n=$(cat "$1" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$1"
if [ $((n % 2)) -eq 0 ]; then sleep 0.4; else sleep 0.1; fi
ALT
chmod +x "$tmp/alt.sh"
"$cg" run -r 4 -o "$tmp/w2.json" -- "$tmp/alt.sh" "$tmp/altn" 2>"$tmp/w2.err"
check "CV >= 10 %: in the report's warnings" same_warnings "$tmp/w2.err" "$tmp/w2.json" "energy varies a lot between runs"
# measurement_quality "degraded": a powercap fixture whose package counter is reset mid-run
cp -a "$(dirname "$0")/../fixtures/intel-client" "$tmp/fx"
CODEGREEN_SYSFS_ROOT="$tmp/fx" CODEGREEN_PROVIDERS=powercap "$cg" run -o "$tmp/w3.json" -- sh -c \
  "sleep 0.3; echo 5 >'$tmp/fx/sys/class/powercap/intel-rapl:0/energy_uj'; sleep 0.7" 2>"$tmp/w3.err"
check "degraded (a counter reset): in the report's warnings" same_warnings "$tmp/w3.err" "$tmp/w3.json" 'measurement_quality is \"degraded\"'
check "a counter reset: its sampler warning too" same_warnings "$tmp/w3.err" "$tmp/w3.json" "counter reset"

# Usage errors: a short message with the verb's name, not the whole help.
"$cg" run --bogus -- true 2>"$tmp/err"
check "unknown option: usage error" test $? -eq 2
check "unknown option: codegreen run: prefix" grep -q "^codegreen run: unrecognized option '--bogus'" "$tmp/err"
check "unknown option: no 50-line help" test "$(wc -l <"$tmp/err")" -le 2
printf '#!/bin/sh\necho ran\n' >"$tmp/noexec.sh"
chmod 644 "$tmp/noexec.sh"
"$cg" run -q -- "$tmp/noexec.sh" 2>"$tmp/err"
check "found but not executable exits 126" test $? -eq 126
"$cg" run -q -- "$tmp/no-such-command" 2>/dev/null
check "not found exits 127" test $? -eq 127
"$cg" diff -o "$tmp/d.txt" a.json b.json 2>"$tmp/err"
check "diff's refusal does not say 'run'" grep -q "nothing was written" "$tmp/err"

# --- a SIGTERM before the command started: exit 128 + 15, a line says nothing ran, and the report
# is still written where it can be. The moment is chosen by where codegreen waits (its
# /proc/PID/wchan), never by a delay: blocked opening a FIFO given as --baseline (before the
# session begins), and in --idle's sleep (before the first run). ---
wait_in() { # PID WORDS: until the process waits in a kernel function matching WORDS (10 s at most)
  k=0
  while [ $k -lt 200 ]; do
    grep -Eq "$2" "/proc/$1/wchan" 2>/dev/null && return 0
    sleep 0.05
    k=$((k + 1))
  done
  return 1
}
mkfifo "$tmp/base.fifo"
"$cg" run -o "$tmp/early.json" --baseline "$tmp/base.fifo" -- touch "$tmp/ran_early" 2>"$tmp/early.err" &
pid=$!
if wait_in $pid 'partner|fifo|pipe'; then
  kill -TERM $pid
  wait $pid
  check "SIGTERM before the session: exit 143" test $? -eq 143
  check "SIGTERM before the session: nothing ran, and it says so" sh -c \
    "test ! -e '$tmp/ran_early' && grep -q 'SIGTERM came before the command started: nothing was run; exit 143' '$tmp/early.err'"
else
  kill -KILL $pid 2>/dev/null
  wait $pid
  echo "skip: /proc/PID/wchan does not show the FIFO wait here"
fi
"$cg" run --idle 60 -o "$tmp/idle.json" -- touch "$tmp/ran_idle" 2>"$tmp/idle.err" &
pid=$!
if wait_in $pid 'nanosleep'; then
  kill -TERM $pid
  wait $pid
  check "SIGTERM before the first run: exit 143" test $? -eq 143
  check "SIGTERM before the first run: it says nothing was run" \
    grep -q "SIGTERM came before the command started: nothing was run (the report, where -o says, holds no run); exit 143" "$tmp/idle.err"
  check "SIGTERM before the first run: the report is written, with no run" py "
import json, os; r=json.load(open('$tmp/idle.json'))
assert r['runs']==[] and not os.path.exists('$tmp/ran_idle'), r['runs']"
  check "no_tasks: in the report's warnings as in the summary" same_warnings "$tmp/idle.err" \
    "$tmp/idle.json" 'measurement_quality is \"no_tasks\"'
else
  kill -KILL $pid 2>/dev/null
  wait $pid
  echo "skip: /proc/PID/wchan does not show the sleep here"
fi

finish test_run_status
