#!/bin/sh
# test_outputs.sh - `codegreen run`'s output conventions and repeat semantics, each with its exact
# command, on the simulated device (24 W in total): --json on stderr and stdout left to the
# command, -o given several times (.json .csv .md, '-'), unknown extensions refused, CSV with
# provenance and --append, failed and interrupted runs kept out of the statistics, warnings,
# the --shell hint, -I interval printing, the progress line, CPU-only attribution with background
# descendants counted (subreaper), and the process registry warning both ways.
# usage: test_outputs.sh CODEGREEN_BIN
cg=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/lib.sh"
export CODEGREEN_PROVIDERS=sim
export CODEGREEN_SIM_CONFIG='{"update_interval_us":1,"energy_unit_uj":0.001,"domains":[
  {"name":"package-0","kind":"cpu_package","waveform":"constant","power_w":20,"includes":["core"]},
  {"name":"core","kind":"nested","waveform":"constant","power_w":8},
  {"name":"dram","kind":"dram","waveform":"constant","power_w":4},
  {"name":"gpu0","kind":"gpu","waveform":"constant","power_w":250}]}'
cd "$tmp" || exit 1

# --- codegreen run --json -- echo hi: stdout is the command's, the JSON is on stderr ---
"$cg" run --json -- echo hi >out 2>err
check "--json exits 0" test $? -eq 0
check "--json leaves stdout to the command" test "$(cat out)" = "hi"
check "--json: stderr is exactly the JSON report" py "
import json; r=json.load(open('err')); assert r['runs'][0]['exit_status']==0 and 'meta' in r"
out=$("$cg" run --json -- echo hi 2>&1 >/dev/null | jq -r '.runs[0].task')
check "codegreen run --json -- echo hi 2>&1 >/dev/null | jq works" test "$out" = "run-1"
"$cg" run -q -o - -- true >dash.json 2>/dev/null
check "-o - writes the JSON to stdout" py "import json; json.load(open('dash.json'))"

# --- several -o at once; an unknown extension is refused before anything runs ---
"$cg" run -q -r 3 -o r.json -o r.csv -o r.md -- sleep 0.05 2>/dev/null
check "-o r.json -o r.csv -o r.md all written" test -s r.json -a -s r.csv -a -s r.md
check "markdown table with a relative column" py "
t=open('r.md').read().splitlines()
assert t[0]=='| Command | Energy [J] | Min [J] | Max [J] | Time [s] | Power [W] | Relative |', t
assert t[1].startswith('|:---|---:'), t
assert t[2].startswith('| \`sleep 0.05\` |') and '± ' in t[2] and '1.00' in t[2].split('|')[-2], t"
"$cg" run -o r.txt -- touch ran 2>err
check "unknown extension is a usage error" test $? -eq 2
check "unknown extension names the known ones" grep -q "extensions known are .json, .csv, .md, .markdown, each also with .zst" err
check "unknown extension: nothing ran" test ! -e ran

# --- an argument that is not UTF-8 (a Latin-1 file name): every output whole, the bytes replaced ---
"$cg" run -o inv.json -o inv.csv -o inv.md -- printf '%s' "$(printf 'x\377abc')" >/dev/null 2>err
check "a non-UTF-8 argument: run exits 0" test $? -eq 0
check "a non-UTF-8 argument: the summary names the command, never (null)" sh -c \
  '! grep -q "(null)" err && grep -q "codegreen run: printf %s x.*abc  (1 run in the statistics)" err'
check "a non-UTF-8 argument: JSON, CSV and Markdown hold the command, U+FFFD for the bad byte" py "
import csv, json
r=json.load(open('inv.json'))
assert [c['command'] for c in r['commands']]==['printf %s x\ufffdabc'], r['commands']
assert r['commands'][0]['argv']==['printf','%s','x\ufffdabc'], r['commands'][0]
head=next(csv.reader(open('inv.csv')))
rows=list(csv.reader(open('inv.csv')))[1:]
assert len(rows)==1 and len(rows[0])==len(head), (head, rows)
row=dict(zip(head, rows[0]))
assert row['command']=='printf %s x\ufffdabc' and row['command_index']=='0' and row['task']=='run-1', row
assert row['in_statistics']=='true' and float(row['energy_j'])>0, row
md=open('inv.md').read().splitlines()
assert len(md)==3 and md[2].startswith('| \x60printf %s x\ufffdabc\x60 |'), md"

# --- CSV with provenance and identity; --append with the same header, refusing another ---
check "CSV keeps provenance and identity" py "
import csv, json
rows=list(csv.DictReader(open('r.csv'))); r=json.load(open('r.json'))
assert len(rows)==3, rows
for k in ('run_id','session_name','hostname','cpu_model','energy_source','measurement_quality',
          'command','exit_status','warmup','outlier','in_statistics','attributed_energy_j'):
    assert k in rows[0], k
assert rows[0]['energy_source']=='simulated' and rows[0]['command']=='sleep 0.05'
assert rows[0]['session_name']=='' and len(rows[0]['run_id'])==12
assert [x['task'] for x in rows]==['run-1','run-2','run-3'] and rows[0]['exit_status']=='0'
assert rows[0]['warmup']=='false' and rows[0]['in_statistics']=='true'"
"$cg" run -q -w 1 -o r.csv --append -- true 2>/dev/null
check "--append adds rows under the same header" py "
import csv
rows=list(csv.DictReader(open('r.csv')))
assert len(rows)==5, len(rows)
assert open('r.csv').read().count('run_id,')==1
assert rows[3]['warmup']=='true' and rows[3]['task']=='warmup-1' and rows[4]['task']=='run-1'
assert rows[3]['run_id']!=rows[0]['run_id']"
printf 'a,b\n1,2\n' >other.csv
"$cg" run -q -o other.csv --append -- true 2>err
check "--append to another header is refused before running (2)" test $? -eq 2
check "--append refusal says why" grep -q "has another header; nothing was added" err
check "--append refusal leaves the file" test "$(cat other.csv)" = "$(printf 'a,b\n1,2')"

# --- --append is for .csv outputs: a .json or .md beside it would be replaced, so it is refused ---
cp r.json r0.json
"$cg" run -q -o r.json --append -- touch ran_append 2>err
check "--append with -o r.json is a usage error" test $? -eq 2
check "--append with -o r.json: nothing was run" test ! -e ran_append
check "--append with -o r.json: the file is untouched" cmp -s r.json r0.json
check "--append with -o r.json says why" grep -q \
  "run: --append adds rows to .csv outputs only; -o r.json would be replaced, so it is refused" err
"$cg" run -q -o r.csv -o r.md --append -- touch ran_append 2>err
check "--append with -o r.csv -o r.md is refused too" test $? -eq 2 -a ! -e ran_append
"$cg" run -q --append -- touch ran_append 2>err
check "--append without a .csv is a usage error" test $? -eq 2 -a ! -e ran_append
check "--append without a .csv says so" grep -q "append needs a .csv output (-o FILE.csv)" err

# --- concurrent --append (parallel CI jobs on one file): every row kept, one header. Whatever
# the interleaving, each writer locks the file from its header check to its last row. ---
rm -f par.csv
for i in 1 2 3 4 5 6 7 8; do "$cg" run -q -o par.csv --append -- true 2>>par.err & done
wait
check "8 concurrent --append to a new file: 8 rows under one header" py "
import csv
t=open('par.csv').read(); rows=list(csv.DictReader(open('par.csv')))
assert t.count('run_id,')==1 and len(rows)==8, (len(rows), t.count('run_id,'))
assert len({r['run_id'] for r in rows})==8 and all(r['task']=='run-1' for r in rows)"
for i in 1 2 3 4 5 6 7 8; do "$cg" run -q -o par.csv --append -- true 2>>par.err & done
wait
check "8 more concurrent --append to the existing file: 16 rows" py "
import csv
rows=list(csv.DictReader(open('par.csv')))
assert open('par.csv').read().count('run_id,')==1 and len(rows)==16, len(rows)
assert len({r['run_id'] for r in rows})==16"
check "concurrent --append: nothing on stderr" test ! -s par.err
head -c -1 par.csv >cut.csv
"$cg" run -q -o cut.csv --append -- true
check "--append after a last row without its newline starts a new line" py "
import csv
rows=list(csv.DictReader(open('cut.csv')))
assert len(rows)==17 and rows[15]['task']=='run-1' and rows[16]['task']=='run-1', len(rows)"

# --- a failure stops the repeats (hyperfine's rule); -i goes on ---
cat >job.sh <<'JOB'
#!/bin/sh
n=$(cat "$1" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$1"
sleep 0.05
[ "$n" -eq 3 ] && exit 3
exit 0
JOB
chmod +x job.sh
"$cg" run -r 5 -o f.json -- ./job.sh count1 2>err
check "a failing run stops the repeats with its status" test $? -eq 3
check "the failure is said" grep -q "run-3 exited with status 3; stopping the repeats" err
check "failed run recorded, out of the statistics" py "
import json; r=json.load(open('f.json'))
assert [x['exit_status'] for x in r['runs']]==[0,0,3], r['runs']
assert r['runs'][2]['failed'] and not r['runs'][2]['in_statistics']
assert r['statistics']['n_in_statistics']==2 and r['statistics']['energy_j']['n_used']==2"
"$cg" run -q -r 5 -i -o i.json -- ./job.sh count2 2>/dev/null
check "-i runs on and exits with the failed run's status" test $? -eq 3
check "-i: every run recorded" py "
import json; r=json.load(open('i.json'))
assert [x['exit_status'] for x in r['runs']]==[0,0,3,0,0], r['runs']
assert r['statistics']['n_runs']==5"

# --- an outlier set aside is out of the statistics in the JSON and the CSV, as in the summary ---
"$cg" run -r 6 -o ol.json -o ol.csv --shell -- \
  'if [ -e olfirst ]; then sleep 0.05; else touch olfirst; sleep 0.6; fi' 2>err
# How many of the short runs the IQR rule also sets aside depends on how evenly a busy machine
# ran them (a sanitizer build saw two): the checks hold for whatever set it chose.
check "outlier run: the summary sets the long run aside" py "
import json, re; r=json.load(open('ol.json')); s=r['statistics']
out=[x for x in r['runs'] if x['outlier']]
assert r['runs'][0]['outlier'] and len(out)>=1, r['runs']
text=open('err').read()
assert '(%d runs in the statistics of 6; %d outlier%s set aside)' % (6-len(out), len(out), '' if len(out)==1 else 's') in text, text"
check "outlier run: in_statistics false, n_in_statistics and the CSV agree with the figures" py "
import csv, json, statistics as st
r=json.load(open('ol.json')); runs=r['runs']; s=r['statistics']
assert all(x['in_statistics']==(not x['outlier']) for x in runs), runs
kept=[x for x in runs if x['in_statistics']]
assert s['n_in_statistics']==len(kept)==s['energy_j']['n_used'] and s['n_runs']==6, s
rows=[x for x in csv.DictReader(open('ol.csv')) if x['in_statistics']=='true']
assert len(rows)==len(kept) and abs(st.mean(float(x['energy_j']) for x in rows)-s['energy_j']['mean'])<1e-9"
"$cg" diff --json ol.json ol.json >old.json 2>/dev/null
check "outlier run: diff reads the same runs (the filter applied to the same set)" py "
import json; d=json.load(open('old.json'))['rows'][0]; s=json.load(open('ol.json'))['statistics']
assert d['a_n']==s['n_in_statistics'] and abs(d['a_energy_j']-s['energy_j']['mean'])<1e-12, d"

# --- SIGTERM during run 2 of 5: the truncated run is never in the statistics ---
cat >slow.sh <<'JOB'
#!/bin/sh
n=$(cat "$1" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$1"
if [ "$n" -eq 2 ]; then touch second; sleep 30; else sleep 0.1; fi
JOB
chmod +x slow.sh
"$cg" run -q -r 5 -o sig.json -- ./slow.sh count3 2>/dev/null &
pid=$!
i=0
while [ ! -e second ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.2
kill -TERM $pid
wait $pid
check "SIGTERM during run 2 gives 143" test $? -eq 143
check "interrupted run recorded, not in the statistics" py "
import json; r=json.load(open('sig.json'))
runs=r['runs']
assert len(runs)==2 and runs[1]['interrupted'] and not runs[1]['in_statistics'], runs
assert r['statistics']['n_in_statistics']==1
assert abs(r['statistics']['energy_j']['mean']-runs[0]['energy_j'])<1e-12"

# --- sigma, min, max in the summary; warnings for high CV and for too-short commands ---
cat >alt.sh <<'JOB'
#!/bin/sh
n=$(cat "$1" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$1"
if [ $((n % 2)) -eq 0 ]; then sleep 0.02; else sleep 0.8; fi # far apart: a busy box adds start-up time to both
JOB
chmod +x alt.sh
"$cg" run -r 6 -- ./alt.sh count4 2>err
check "summary prints sigma, min and max" grep -Eq "energy +[0-9.]+ J ± [0-9.]+ \(σ\)  \[min [0-9.]+, max [0-9.]+\]" err
check "high CV is warned about" grep -q "energy varies a lot between runs (CV" err
check "high CV suggests warm-ups" grep -q "warm up (-w 3)" err
# Whether `true` is "short" is decided from the run's own timeline (stats.duration_s.mean in
# the report) against 50 updates of the counter (meta.sampler.update_period_us), not assumed: on
# a starved machine fork+exec+wait can pass 50 ms. A 1 ms counter here, as RAPL's.
CODEGREEN_SIM_CONFIG='{"update_interval_us":1000}' "$cg" run -r 10 -o short.json -- true 2>err
check "codegreen run -r 10 -- true warns exactly when it runs under 50 counter updates" py "
import json; r=json.load(open('short.json')); s=r['statistics']
period=max(r['meta']['sampler']['update_period_us'].values())/1e6
short=s['duration_s']['mean'] < 50*period; warned='the command runs' in open('err').read()
assert warned == short, (s['duration_s'], period, warned)"
CODEGREEN_SIM_CONFIG='{"update_interval_us":100000}' "$cg" run -r 3 --interval-ms 20 -- true 2>err
check "too short a command is warned about" grep -Eq "under 50 counter updates \(about (9[0-9]|10[0-9])(\.[0-9])? ms each\)" err

# --- codegreen run -- 'sleep 0.1' -> hint to use --shell ---
"$cg" run -- 'sleep 0.1' 2>err
check "a command line as one word exits 127" test $? -eq 127
check "a command line as one word: --shell hint" grep -q "add --shell (codegreen run --shell -- 'sleep 0.1')" err

# --- -I 100 -x , : interval rows on stderr (perf stat -I) ---
"$cg" run -q -I 100 -x , -- sleep 0.5 2>iv.csv
check "-I -x , prints interval rows" py "
import csv
rows=list(csv.DictReader(open('iv.csv')))
assert list(rows[0].keys())[:5]==['time_s','energy_j','power_w','package-0_j','package-0_w'], rows[0]
assert len(rows)>=1
for r in rows:
    if float(r['time_s'])>0.02: assert abs(float(r['power_w'])-274)<0.03*274, r
"
"$cg" run -q -I 100 -- sleep 0.3 2>iv.txt
check "-I prints one line per domain per interval" py "
lines=open('iv.txt').read().splitlines()
assert lines[0].startswith('#') and 'power W' in lines[0], lines
assert any(' dram ' in l for l in lines) and any(' energy_j ' in l for l in lines), lines"

# --- attribution: CPU-time share of the CPU domains only; GPU not attributed ---
"$cg" run -q -o a.json -- sleep 0.3 2>/dev/null
check "GPU energy is not attributed by CPU share" py "
import json; r=json.load(open('a.json')); run=r['runs'][0]; t=r['tasks'][0]
assert r['attribution']['domains']['gpu0'].startswith('not_attributed'), r['attribution']
assert r['attribution']['domains']['package-0']=='cpu_time_share'
cpu=t['domains']['package-0']+t['domains']['dram']
assert abs(run['unattributed_energy_j']-t['domains']['gpu0'])<1e-9, run
assert run['attributed_energy_j']<=cpu+1e-9, run"
# The issue's `sh -c '(busy_loop &); sleep 1.2'`: a background descendant the command never waits
# for still counts (subreaper). It writes the CPU time it used (its own clock, so the check holds
# on a fast machine and a busy one alike), and the command ends once it has ended (a zombie: only
# its new parent, codegreen, can reap it).
cat >bgjob.sh <<'JOB'
#!/bin/sh
(sh -c 'echo $$ >bg.pid; exec /usr/bin/python3 -c "import time; sum(range(20000000)); open(\"bg.cpu\", \"w\").write(repr(time.process_time()))"' &)
until [ -s bg.pid ]; do sleep 0.05; done
p=$(cat bg.pid)
while [ -e /proc/$p ] && ! grep -q ') Z' /proc/$p/stat 2>/dev/null; do sleep 0.05; done
JOB
chmod +x bgjob.sh
"$cg" run -q -o bg.json -- ./bgjob.sh 2>/dev/null
check "background descendants' CPU time counts" py "
import json; r=json.load(open('bg.json')); own=float(open('bg.cpu').read())
assert own>0.05, own
assert r['runs'][0]['cpu_time_s']>=own-0.005, (own, r['runs'][0])"

# --- the process registry: run is listed, and overlapping measurements warn both ways ---
# Files order the steps (never sleeps): the first run's command waits for the second's, which
# waits until the first run has ended, so each run sees the other at its start or its end.
waitfor() { i=0; while [ ! -e "$1" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done; }
"$cg" run -- sh -c 'touch s1; while [ ! -e s2 ]; do sleep 0.05; done' 2>first.err &
pid=$!
waitfor s1
"$cg" run -- sh -c 'touch s2; while [ ! -e s3 ]; do sleep 0.05; done' 2>second.err &
pid2=$!
wait $pid
touch s3
wait $pid2
check "a second run warns about the first" grep -q "other codegreen process is measuring on this host already" second.err
check "the first warns about the second at its end" grep -q "other codegreen process is measuring on this host now" first.err
# --json beside another measuring process (newuser2 item 6): stderr is the JSON alone, the
# warning inside it, so README's `codegreen run --json -- cmd 2>&1 >/dev/null | jq .` parses.
"$cg" run -q -- sh -c 'touch j1; while [ ! -e j2 ]; do sleep 0.05; done' 2>/dev/null &
pid=$!
waitfor j1
out=$("$cg" run --json -- echo hi 2>&1 >/dev/null | jq -r '.warnings[0]')
"$cg" run --json -r 2 -- sh -c 'exit 3' 2>json3.err >/dev/null
touch j2
wait $pid
check "run --json beside another process: jq reads the warning from the JSON" test "$out" = \
  "warning: 1 other codegreen process is measuring on this host already (pid $pid); the energy counters are machine-wide, so both measurements include each other's energy"
check "run --json: a stopped repeat's note is in the JSON, stderr is the JSON alone" py "
import json; r=json.load(open('json3.err'))
assert r['warnings'][0].startswith('warning: 1 other codegreen process'), r['warnings']
assert r['warnings'][1]=='note: run-1 exited with status 3; stopping the repeats (-i/--ignore-failure goes on)', r['warnings']"
"$cg" run -q -o alone.json -- true
check "a run with nothing to say has warnings: []" py "
import json; assert json.load(open('alone.json'))['warnings']==[]"
pylib="${CODEGREEN_LIB_PATH:-$(dirname "$cg")/../lib/libcodegreen-nemb.so}"
if [ -e "$pylib" ]; then
"$cg" run -q -- sh -c 'touch p1; while [ ! -e p2 ]; do sleep 0.05; done' 2>/dev/null &
pid=$!
waitfor p1
CODEGREEN_LIB_PATH="$pylib" PYTHONPATH="${CODEGREEN_SOURCE_DIR:-.}/python" /usr/bin/python3 -W always -c "
import codegreen
with codegreen.Session('x', save_to_file=False): pass" 2>pyerr
touch p2
wait $pid
check "a Session beside a run warns" grep -q "other codegreen process" pyerr
fi

# --- the progress line: redrawn on stderr, never sharing a line with the command's output ---
if command -v script >/dev/null 2>&1; then
  script -qec "'$cg' run -r 3 -- echo from-the-command" /dev/null >tty.out 2>&1
  check "progress line and the command's output do not share a line" py "
raw=open('tty.out','rb').read().decode('utf-8','replace')
assert 'ETA' in raw and 'mean ~' in raw, raw
for line in raw.replace('\r\n','\n').split('\n'):
    if 'from-the-command' in line and 'codegreen run: echo' not in line:
        vis=line.split('\r')[-1]
        assert vis.replace('\x1b[K','')=='from-the-command', repr(line)
"
fi

# --- a backtick in a command stays inside one Markdown code span; a directory is said to be one ---
"$cg" run -q -o bt.md --shell -- 'echo `echo x` >/dev/null' 2>/dev/null
check "Markdown: a command with backticks is one code span (a longer fence)" py "
row=open('bt.md').read().splitlines()[2]
assert row.startswith('| \x60\x60\x27echo \x60echo x\x60 >/dev/null\x27\x60\x60 |'), row"
"$cg" run -q -- "$tmp" 2>dir.err
check "run of a directory exits 126" test $? -eq 126
check "run of a directory says it is one" grep -q "cannot run '$tmp': Is a directory" dir.err

finish outputs
