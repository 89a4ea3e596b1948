#!/bin/sh
# test_measure_views.sh - `codegreen measure` as the reference writes it and the per-function
# views, on the simulated device: options after the script (the script's arguments after --),
# --json on stderr, the program's energy in totals.energy_j, session_name null, several -o
# (.json .csv .md .folded .speedscope.json), --append, --sort, --call-graph with the energy
# along each edge, and function spans in --export-plot.
# usage: test_measure_views.sh CODEGREEN_BIN
cg=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/lib.sh"
export CODEGREEN_PROVIDERS=sim
if [ -n "${CODEGREEN_SOURCE_DIR:-}" ]; then
  export CODEGREEN_PYTHON_DIR="$CODEGREEN_SOURCE_DIR/python"
fi
/usr/bin/python3 -c "import sys; sys.path.insert(0, '${CODEGREEN_PYTHON_DIR:-.}'); import codegreen_runtime" >/dev/null 2>&1 || {
  echo "codegreen_runtime is not importable: skipped"; exit 77; }
if [ -n "${CODEGREEN_LIB_PATH:-}" ] && [ ! -e "$CODEGREEN_LIB_PATH" ]; then
  echo "no plain build of libcodegreen-nemb at $CODEGREEN_LIB_PATH for Python: skipped"; exit 77
fi
cd "$tmp" || exit 1
cat >script.py <<'PY'
import sys, time

def hot():
    end = time.monotonic() + 0.08
    while time.monotonic() < end:
        pass

def helper():
    hot()

def main():
    hot()
    helper()
    helper()
    print("args", sys.argv[1:])

main()
PY

# --- codegreen measure python script.py -g fine --export-plot energy.html (verbatim) ---
"$cg" measure python script.py -g fine --export-plot energy.html >out 2>err
check "reference form 1 exits 0" test $? -eq 0
check "options after the script are codegreen's, not the script's" grep -qx "args \[\]" out
check "a hint names the option taken and --" grep -q "note: '-g' after the script is taken as codegreen's option; arguments for the script go after '--'" err
check "-g fine after the script applies" grep -q "fine granularity" err
check "the plot draws the functions' spans" py "
import json, re
h=open('energy.html').read()
D=json.loads(re.search(r'id=\"codegreen-data\">(.*?)</script>', h, re.S).group(1))
names=[(t['name'], t['depth']) for t in D['tasks']]
assert names[0]==('script.py', 0), names
assert ('main', 2) in names and ('helper', 3) in names and ('hot', 4) in names, names"

# --- codegreen measure python script.py --json (verbatim): JSON on stderr ---
"$cg" measure python script.py --json >out 2>err
check "reference form 2 exits 0" test $? -eq 0
check "--json leaves stdout to the program" grep -qx "args \[\]" out
check "--json: stderr is the JSON report, the program as a depth-0 task" py "
import json
r=json.load(open('err'))
t=r['tasks']
assert [(x['name'], x['depth'], x['parent']) for x in t]==[('script.py', 0, None)], t
assert r['totals']['energy_j']==t[0]['energy_j']>0, r['totals']
assert abs(r['totals']['energy_j']-r['totals']['session_energy_j'])<0.05*r['totals']['energy_j']
assert r['meta']['session_name'] is None, r['meta']['session_name']"

# --- the script's own arguments after --; unknown options before it are refused ---
"$cg" measure -q script.py -- -g fine --json x >out 2>err
check "arguments after -- go to the script untouched" grep -qx "args \['-g', 'fine', '--json', 'x'\]" out
check "no hint when -- is used" test ! -s err
"$cg" measure -q script.py input.txt >out 2>err
check "plain words after the script still go to it" grep -qx "args \['input.txt'\]" out
"$cg" measure script.py --verbose >out 2>err
check "an unknown option after the script is a usage error" test $? -eq 2
check "...that says the script's arguments follow --" grep -q "codegreen measure \[options\] script.py -- --verbose" err
check "...before running the script" test ! -s out

# --- -o several kinds at once ---
"$cg" measure -q --sort calls -o r.json -o r.csv -o r.md -o r.folded -o r.speedscope.json script.py 2>err >/dev/null
check "-o five kinds exits 0" test $? -eq 0
check "--sort calls orders the functions" py "
import json
f=json.load(open('r.json'))['functions']
calls=[x['calls'] for x in f]
assert calls==sorted(calls, reverse=True) and f[0]['name']=='hot', [(x['name'], x['calls']) for x in f]"
check "CSV: one row per function with provenance" py "
import csv, json
rows=list(csv.DictReader(open('r.csv'))); r=json.load(open('r.json'))
assert [x['name'] for x in rows]==[x['name'] for x in r['functions']]
for k in ('run_id','session_name','hostname','cpu_model','energy_source','measurement_quality','command','exit_status'):
    assert k in rows[0], k
assert rows[0]['energy_source']=='simulated' and rows[0]['command']=='script.py'
assert rows[0]['name']=='hot' and rows[0]['calls']=='3'"
"$cg" measure -q -o r.csv --append script.py >/dev/null 2>&1
check "--append adds the second run's rows" py "
import csv
rows=list(csv.DictReader(open('r.csv')))
assert len(rows)==6 and len({x['run_id'] for x in rows})==2, len(rows)"
# --json: stderr is the JSON alone; measure's own warning (a program that ended by os._exit)
# is in its "warnings" (newuser2 item 6), and printed on stderr only without --json
printf 'import os\ndef f():\n    return 1\nf()\nos._exit(0)\n' >ex.py
"$cg" measure --json ex.py 2>ex.err >/dev/null
check "measure --json after os._exit: stderr is the JSON, the warning inside" py "
import json; r=json.load(open('ex.err'))
assert r['warnings']==['warning: the program ended without writing its measurements (no result file); it was stopped before its exit handlers ran (os._exit, exec, or a crash)',
                      'warning: measurement_quality is \"no_tasks\"'], r['warnings']"
"$cg" measure -o ex.json ex.py 2>ex.err >/dev/null
check "measure without --json says it on stderr too" grep -q "^codegreen measure: the program ended without writing its measurements" ex.err
check "a measure report with nothing to say has warnings: []" py "
import json; assert json.load(open('r.json'))['warnings']==[]"
cp r.md r0.md
"$cg" measure -q -o r.md --append script.py >/dev/null 2>err
check "measure --append with a .md is refused (exit 2), the file untouched" \
  test $? -eq 2 -a "$(cat r.md)" = "$(cat r0.md)"
check "measure --append with a .md says why" grep -q "append adds rows to .csv outputs only" err
check "Markdown table with a share column" py "
t=open('r.md').read().splitlines()
assert t[0].startswith('Energy per function (SIMULATED'), t[0]
assert t[2]=='| Function | Where | Calls | Energy [J] | ± [J] | Self [J] | Time [s] | Power [W] | Share |', t[2]
assert t[4].startswith('| \`hot\` | script.py:3 | 3 |'), t[4]"
check "folded stacks weighted by self energy in microjoules" py "
import json
r=json.load(open('r.json'))
lines=[l.rsplit(' ', 1) for l in open('r.folded').read().splitlines()]
w={k:int(v) for k, v in lines}
assert 'main;hot' in w and 'main;helper;hot' in w, w
self_uj=sum(f['self_energy_j'] for f in r['functions'])*1e6
assert abs(sum(w.values())-self_uj)<=0.01*self_uj+len(w), (sum(w.values()), self_uj)
hot=[f for f in r['functions'] if f['name']=='hot'][0]
assert abs(w['main;hot']+w['main;helper;hot']-hot['self_energy_j']*1e6)<=0.01*hot['self_energy_j']*1e6+2"
check "speedscope file" py "
import json
d=json.load(open('r.speedscope.json'))
assert d['\$schema']=='https://www.speedscope.app/file-format-schema.json'
names=[f['name'] for f in d['shared']['frames']]
p=d['profiles'][0]
assert p['type']=='sampled' and len(p['samples'])==len(p['weights'])
stacks=[[names[i] for i in s] for s in p['samples']]
assert ['main','helper','hot'] in stacks, stacks
w=sum(int(l.rsplit(' ',1)[1]) for l in open('r.folded'))
assert abs(sum(p['weights'])-w)<=len(p['weights'])+1, (sum(p['weights']), w)"
check "the call graph: energy along each edge adds up to the callee's" py "
import json
r=json.load(open('r.json'))
E={(e['caller'], e['callee']): e for e in r['call_graph']['edges']}
assert E[('main','hot')]['calls']==1 and E[('helper','hot')]['calls']==2, E
assert E[('main','helper')]['calls']==2 and E[('<root>','main')]['calls']==1
hot=[f for f in r['functions'] if f['name']=='hot'][0]
into=E[('main','hot')]['energy_j']+E[('helper','hot')]['energy_j']
assert abs(into-hot['energy_j'])<=1e-6*hot['energy_j'], (into, hot['energy_j'])
assert r['call_graph']['complete'] is True"
"$cg" measure --call-graph script.py 2>err >/dev/null
check "--call-graph prints callers and callees" grep -Eq "called by: helper 2x [0-9.]+ J, main 1x [0-9.]+ J" err
check "--call-graph prints callees" grep -Eq "calls: +hot 2x [0-9.]+ J" err
"$cg" measure --sort wombat script.py 2>err
check "--sort with an unknown key is a usage error" test $? -eq 2
check "...naming the keys" grep -q "energy, self-energy, time, self-time, calls, power, name" err
"$cg" measure -o r.txt script.py 2>err >/dev/null
check "measure -o with an unknown extension names the known ones" grep -q "extensions known are .speedscope.json, .json, .csv, .md, .markdown, .folded, each also with .zst" err

# --- a program shorter than a few updates of its counter (issue 10: "the table says so") ---
# A 10 W device whose counter updates every second: a program that ends within 3.5 s is under
# the 4 updates that fix a span, so the report gives totals.session_energy_uncertainty_j, the
# program's task carries it, and the table prints it under the energy line, as `run` does.
CODEGREEN_SIM_CONFIG='{"update_interval_us":1000000,"domains":[
  {"name":"package-0","kind":"cpu_package","waveform":"constant","power_w":10}]}' \
  "$cg" measure -o short.json script.py >/dev/null 2>short.err
check "short program exits 0" test $? -eq 0
unc=$(py "
import json
r=json.load(open('short.json'))
u=r['totals'].get('session_energy_uncertainty_j')
w=r['totals']['wall_duration_s']
if w < 3.5:
    assert u is not None and u > 0, r['totals']
if w > 4.5:
    assert u is None, r['totals']
if u is not None:
    # the program's task is measure's whole run, inside its session by a few ms: its own bound
    # (the ends' periods differ from the session's), given for the same reason
    assert r['tasks'][0]['energy_uncertainty_j']>0, r['tasks'][0]
    c=r['totals']['session_energy_uncertainty_cause']
    assert 'short_span' in r['tasks'][0]['energy_uncertainty_cause'] and 'short_span' in c, c
    print('%.4f' % u)")
check "the uncertainty is in the report when the run is short" test $? -eq 0
if [ -n "$unc" ]; then
  why="is shorter than a few updates of an energy counter, which fix"
  grep -q '"sampler_gap"' short.json &&
    why="is shorter than a few updates of an energy counter and a start or end fell between stored samples far apart (a long interval, a coarsened store or a busy machine): the counters fix"
  check "the table shows it under the energy line" sh -c "grep -A1 '^  energy       ' short.err | grep -qx '               ± $unc J: the program.s run $why the energy only to within this either way (energy_uncertainty_j)'"
else
  echo "note: the program ran 4.5 s or more (a busy machine): no uncertainty to show"
  # (the functions' legend may still name the counter: their calls are under its 1 s updates)
  check "no uncertainty line without one" sh -c "! grep -A1 '^  energy       ' short.err | grep -q 'energy counter'"
fi

# Issue F17: a second --export-plot replaced the first silently; it is refused before anything runs.
"$cg" measure --export-plot twice.png --export-plot twice.html script.py >twice.out 2>twice.err
check "a second --export-plot is a usage error" test $? -eq 2
check "it names both and says nothing ran" grep -q "export-plot is given twice ('twice.png', 'twice.html').*nothing was run" twice.err
check "no plot and no program output" sh -c '! test -e twice.png && ! test -e twice.html && ! test -s twice.out'

# The meter's own warnings (meta.sampler.warnings) in measure's summary, worded as run prints
# them (one rule, outputs.c): a simulated GPU at 0 W never changes over a run of over a second.
cat >still.py <<'PY'
import time

def wait():
    time.sleep(1.1)

wait()
PY
still='{"domains":[{"name":"package-0","kind":"cpu_package","waveform":"constant","power_w":20},{"name":"gpu0","kind":"gpu","waveform":"constant","power_w":0}]}'
CODEGREEN_SIM_CONFIG="$still" "$cg" measure -o still.json still.py >still.out 2>still.err
check "measure with a still domain exits 0" test $? -eq 0
check "the report has the warning" py "
import json
w=json.load(open('still.json'))['meta']['sampler']['warnings']
assert len(w)==1 and w[0].startswith('domain gpu0 (sim, update period unknown)') and 'never changed' in w[0], w
open('still.want','w').write('  warning      '+w[0]+'\n')"
check "measure's summary prints it" sh -c "grep -F '  warning      domain gpu0' still.err | cmp - still.want"
check "no wrap warning for a 0 W domain" sh -c "! grep -q 'can wrap within' still.err"
CODEGREEN_SIM_CONFIG="$still" "$cg" run -o run-still.json -- sleep 1.1 >run-still.out 2>run-still.err
check "run prints the report's warning in the same words" py "
import json
w=json.load(open('run-still.json'))['meta']['sampler']['warnings']
lines=[l for l in open('run-still.err').read().splitlines() if l.startswith('  warning') and 'gpu0' in l]
assert lines==['  warning     '+w[0]], (lines, w)"

finish measure_views
