#!/bin/sh
# test_compare.sh - comparing and gating: `codegreen run -r N -- A --vs-- B` (interleaved runs,
# ratio with its spread, Welch's t-test), `codegreen diff a.json b.json` on run, Session and
# measure reports (figures checked against hand-made reports), --fail-if-regressed on diff and on
# run --baseline, and the --help of the verbs listing every option.
# usage: test_compare.sh CODEGREEN_BIN
cg=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/lib.sh"
export CODEGREEN_PROVIDERS=sim
export CODEGREEN_SIM_CONFIG='{"update_interval_us":1,"energy_unit_uj":0.001,"domains":[
  {"name":"package-0","kind":"cpu_package","waveform":"constant","power_w":20},
  {"name":"dram","kind":"dram","waveform":"constant","power_w":4}]}'
cd "$tmp" || exit 1

# --- codegreen run -r 5 -- sleep 0.1 --vs-- sleep 0.3 ---
"$cg" run -r 5 -o vs.json -o vs.md -- sleep 0.1 --vs-- sleep 0.3 2>err
check "--vs-- exits 0" test $? -eq 0
check "--vs--: interleaved runs, per-command statistics, Welch's test" py "
import json; r=json.load(open('vs.json'))
assert [x['task'] for x in r['runs']][:4]==['c1-run-1','c2-run-1','c1-run-2','c2-run-2'], r['runs']
assert [c['command'] for c in r['commands']]==['sleep 0.1','sleep 0.3']
a=r['commands'][0]['statistics']['energy_j']; b=r['commands'][1]['statistics']['energy_j']
c=r['comparison'][0]
assert c['test']=='welch_t_test' and c['command_index']==1 and c['baseline_index']==0
assert abs(c['energy_ratio']-b['mean']/a['mean'])<1e-9, c
# Each run's energy is the sim's 24 W over that run's own duration, which holds the sleep: the
# figures follow from the runs as measured, however long a loaded machine took to start them.
runs=[x for x in r['runs'] if x['in_statistics'] and not x['outlier']]
for x in runs:
    assert abs(x['energy_j']-24*x['duration_s'])<0.02*x['energy_j']+0.05, x
    assert x['duration_s']>=(0.1 if x['command_index']==0 else 0.3), x
# Welch's t and degrees of freedom from those runs; the verdict follows p and alpha, and a t
# beyond the two-sided 5 % critical value at 2 degrees of freedom (4.303) must be significant.
import statistics as st
ea=[x['energy_j'] for x in runs if x['command_index']==0]
eb=[x['energy_j'] for x in runs if x['command_index']==1]
va,vb=st.variance(ea)/len(ea),st.variance(eb)/len(eb)
t=(st.mean(eb)-st.mean(ea))/(va+vb)**0.5
df=(va+vb)**2/(va**2/(len(ea)-1)+vb**2/(len(eb)-1))
assert abs(c['t']-t)<1e-6*abs(t) and abs(c['df']-df)<1e-6*df, (c, t, df)
assert c['significant']==(c['p_value']<c['alpha']), c
assert c['significant'] or t<4.303, c
open('verdict','w').write('significant' if c['significant'] else 'not significant')
assert r['meta']['argv']==['sleep','0.1','--vs--','sleep','0.3'], r['meta']['argv']"
verdict=$(cat verdict 2>/dev/null)
check "--vs--: the summary says B uses x ± y × the energy of A" grep -Eq "'sleep 0.3' uses [0-9.]+ ± [0-9.]+ × the energy of 'sleep 0.1' \(\+[0-9.]+ %\): the difference is $verdict \(p = [0-9.e-]+, Welch's t-test" err
check "--vs--: Markdown has one row per command, the lowest at 1.00" py "
rows=[l for l in open('vs.md').read().splitlines()[2:]]
assert len(rows)==2 and rows[0].startswith('| \`sleep 0.1\`') and rows[0].split('|')[-2].strip().startswith('1.00'), rows"
"$cg" run -- true --vs-- 2>/dev/null
check "an empty command after --vs-- is a usage error" test $? -eq 2

# --- codegreen diff on hand-made run reports: exact figures ---
cat >mk.py <<'PY'
import json, sys
def run_report(path, energies, argv):
    runs = [{"task": "run-%d" % (i + 1), "command_index": 0, "warmup": False, "exit_status": 0,
             "in_statistics": True, "energy_j": e, "duration_s": 1.0} for i, e in enumerate(energies)]
    json.dump({"meta": {"argv": argv}, "tasks": [], "totals": {}, "runs": runs,
               "commands": [{"index": 0, "command": " ".join(argv)}]}, open(path, "w"))
def session_report(path, tasks):
    json.dump({"meta": {"session_name": "s"}, "tasks": [{"name": n, "energy_j": e, "duration_s": d}
               for n, e, d in tasks],
               "totals": {"energy_j": sum(e for _, e, _ in tasks),
                          "wall_duration_s": sum(d for _, _, d in tasks)}}, open(path, "w"))
run_report("ra.json", [10, 11, 12, 13], ["./bench"])
run_report("rb.json", [12, 13, 14, 15], ["./bench"])
run_report("rc.json", [20, 21, 22, 23], ["./bench"])
session_report("sa.json", [("load", 5, 1), ("train", 20, 4)])
session_report("sb.json", [("load", 5, 1), ("train", 30, 4), ("eval", 3, 1)])
PY
py "exec(open('mk.py').read())"
"$cg" diff --json ra.json rb.json >d1.json
check "diff exits 0 without a gate" test $? -eq 0
check "diff of run reports: means, change and Welch's test" py "
import json, math; d=json.load(open('d1.json'))
r=d['rows'][0]
assert r['name']=='./bench' and r['a_n']==4 and r['b_n']==4
assert r['a_energy_j']==11.5 and r['b_energy_j']==13.5 and abs(r['energy_diff_j']-2)<1e-12
assert abs(r['energy_diff_percent']-200/11.5)<1e-9
assert abs(r['a_energy_std_j']-math.sqrt(5/3))<1e-12
# t = 2 / sqrt(2 * (5/3) / 4) = 2.19 at 6 df: between the 10 % (1.943) and 5 % (2.447) points
assert 0.05<r['p_value']<0.10 and r['significant'] is False, r
assert abs(r['a_power_w']-11.5)<1e-12 and abs(r['power_diff_percent']-200/11.5)<1e-9
assert d['test'].startswith('welch_t_test')"
"$cg" diff --fail-if-regressed 10 ra.json rb.json 2>err >/dev/null
check "diff gate: +17 % but not significant does not fire" test $? -eq 0
check "diff gate says why it did not fire" grep -q "no regression beyond 10.00 %" err
"$cg" diff --fail-if-regressed 10 ra.json rc.json 2>err >/dev/null
check "diff gate: +87 %, significant, fires" test $? -eq 1
check "diff gate names the regression" grep -q "REGRESSION: energy grew 86.96 %" err
"$cg" diff --fail-if-regressed 100 ra.json rc.json 2>/dev/null >/dev/null
check "diff gate: under the threshold does not fire" test $? -eq 0
# An -o that cannot be written is never the gate's 1: refused before reading (2), and one lost
# after the verdict is 3 (the gate said "no regression" and exited 1).
"$cg" diff --fail-if-regressed 50 -o nodir/x.md ra.json ra.json 2>err >/dev/null
check "diff gate with an unwritable -o: 2, not the gate's 1" test $? -eq 2
check "diff gate with an unwritable -o: nothing was written" grep -q "cannot write nodir/x.md: No such file or directory; nothing was written" err
check "diff gate with an unwritable -o: no verdict" sh -c "! grep -q 'regression' err"
if [ -w /dev/full ]; then
  "$cg" diff --fail-if-regressed 50 --json ra.json ra.json >/dev/full 2>/dev/null
  check "diff gate, its JSON lost: 3, not the gate's 1" test $? -eq 3
fi

# --- diff of Session reports: per task, single values (not tested), tasks on one side ---
"$cg" diff sa.json sb.json >d2.txt 2>&1
check "diff of Session reports prints a table" grep -q "^NAME .*A ENERGY J .*B ENERGY J .*DIFF %" d2.txt
"$cg" diff -o d2.csv -o d2.md sa.json sb.json >/dev/null
check "diff of Session reports: per task and the whole" py "
import csv; rows={r['name']:r for r in csv.DictReader(open('d2.csv'))}
assert float(rows['(total)']['energy_diff_percent'])==52.0, rows['(total)']
assert float(rows['train']['energy_diff_j'])==10 and float(rows['train']['energy_diff_percent'])==50
assert float(rows['load']['energy_diff_j'])==0
assert rows['eval']['only_in']=='B' and rows['eval']['a_energy_j']==''
assert rows['train']['significant']=='' and rows['train']['p_value']==''"
check "diff writes Markdown" grep -q '^| `train` |' d2.md
"$cg" diff --fail-if-regressed 40 sa.json sb.json >/dev/null 2>err
check "gate with single values: the threshold alone decides (fires)" test $? -eq 1
check "gate with single values says it could not test" grep -q "not tested" err
"$cg" diff --fail-if-regressed 60 sa.json sb.json >/dev/null 2>&1
check "gate with single values: under the threshold" test $? -eq 0
echo '{"x":1}' >bad.json
"$cg" diff sa.json bad.json >/dev/null 2>err
check "diff refuses a file that is not a report" test $? -eq 2
check "diff says which file" grep -q "bad.json is not a codegreen report" err

# --- diff of real run reports with repeats, and run --baseline --fail-if-regressed (CI) ---
# The same command line, doing more work the second time (as a change to ./bench would).
D=0.05 "$cg" run -q -r 5 -o base.json --shell -- 'sleep $D' 2>/dev/null
D=0.6 "$cg" run -q -r 5 --baseline base.json --fail-if-regressed 5 -o new.json --shell -- 'sleep $D' 2>err
check "run --baseline --fail-if-regressed fires on a regression" test $? -eq 1
check "run gate says by how much" grep -q "energy grew .* over the baseline (threshold 5.00 %): exit 1" err
D=0.6 "$cg" run -q -r 2 --baseline base.json --fail-if-regressed 5 -o nodir/x.json --shell -- 'touch ran_gate' 2>err
check "run gate with an unwritable -o: 2, nothing run" test $? -eq 2 -a ! -e ran_gate
check "run gate is in the report" py "
import json; b=json.load(open('new.json'))['baseline']
assert b['regressed'] is True and b['significant'] is True and b['energy_diff_percent']>50, b"
D=0.05 "$cg" run -q -r 4 --baseline new.json --fail-if-regressed 5 --shell -- 'sleep $D' 2>/dev/null
check "run gate: less energy than the baseline passes" test $? -eq 0
"$cg" run --fail-if-regressed 5 -- true 2>err
check "--fail-if-regressed without --baseline is a usage error" test $? -eq 2
"$cg" run --baseline nothere.json -- touch ran 2>/dev/null
check "a missing baseline is refused before running" test $? -eq 2 -a ! -e ran
"$cg" diff base.json new.json >d3.txt
check "diff of two run reports" grep -Eq "^'sleep [$]D' .*significant p=" d3.txt

# --- rows pair by command line, whatever the order; never one command against another ---
cat >mk3.py <<'PY'
import json
def runs_report(path, cmds):
    # cmds: [(command line, [energies])]; the runs interleaved as --vs-- runs them
    runs = []
    for k, (c, es) in enumerate(cmds):
        runs += [{"task": "c%d-run-%d" % (k + 1, i + 1), "command_index": k, "warmup": False,
                  "exit_status": 0, "in_statistics": True, "energy_j": e, "duration_s": 1.0}
                 for i, e in enumerate(es)]
    json.dump({"meta": {"argv": [], "energy_source": "simulated", "measurement_quality": "ok"},
               "tasks": [], "totals": {}, "runs": runs,
               "commands": [{"index": k, "command": c} for k, (c, _) in enumerate(cmds)]},
              open(path, "w"))
runs_report("o1.json", [("sleep 0.1", [2.0, 2.0]), ("sleep 0.3", [6.0, 6.0])])
runs_report("o2.json", [("sleep 0.3", [6.0, 6.0]), ("sleep 0.1", [2.0, 2.0])])
runs_report("o3.json", [("sleep 0.3", [6.0, 6.0]), ("sleep 0.2", [4.0, 4.0])])
runs_report("o4.json", [("sleep 0.2", [4.0, 4.0])])
runs_report("ob.json", [("sleep 0.5", [0.001, 0.001]), ("sleep 0.05", [100.0, 100.0])])
PY
py "exec(open('mk3.py').read())"
"$cg" diff --fail-if-regressed 5 -o o12.json o1.json o2.json >o12.txt 2>err
check "diff: the same commands in another order do not regress (exit 0)" test $? -eq 0
check "diff pairs commands by their command line" py "
import json; d=json.load(open('o12.json')); rows={r['name']:r for r in d['rows']}
assert d['pairing']=='by_name' and len(d['rows'])==2, d['rows']
assert d['rows'][0]['name']=='sleep 0.1', d['rows'][0]
for n, e in (('sleep 0.1', 2.0), ('sleep 0.3', 6.0)):
    assert rows[n]['a_energy_j']==e and rows[n]['b_energy_j']==e and rows[n]['only_in'] is None, rows[n]"
check "diff names no command as missing when both have it" sh -c '! grep -q "only in" o12.txt'
"$cg" diff --json o1.json o3.json >o13.json 2>/dev/null
check "diff: a command in one report only says which" py "
import json; rows={r['name']:r for r in json.load(open('o13.json'))['rows']}
assert rows['sleep 0.1']['only_in']=='A' and rows['sleep 0.2']['only_in']=='B', rows
assert rows['sleep 0.3']['energy_diff_j']==0, rows['sleep 0.3']"
"$cg" diff --fail-if-regressed 5 o1.json o3.json >/dev/null 2>err
check "diff gate: A's first command missing in B cannot decide (exit 2)" test $? -eq 2
check "diff gate says A's first row is not in B" grep -q "A's first row \`sleep 0.1\` is not in B" err
"$cg" diff --fail-if-regressed 5 -o o14.json o1.json o4.json >/dev/null 2>err
check "diff: no command in common pairs the first rows (a regression: exit 1)" test $? -eq 1
check "diff says when it pairs the first rows" grep -q "no command is in both reports: the first rows are compared, A's \`sleep 0.1\` with B's \`sleep 0.2\`" err
check "diff's first-rows pairing is in the row and the JSON" py "
import json; d=json.load(open('o14.json'))
assert d['pairing']=='first_rows' and d['rows'][0]['name']=='A: sleep 0.1 | B: sleep 0.2', d['rows'][0]
assert d['rows'][0]['energy_diff_j']==2.0 and d['rows'][1]['only_in']=='A', d['rows']"

# --- run --baseline: the same command of a run report, nothing else unless asked ---
"$cg" run -q -r 2 --baseline ob.json --fail-if-regressed 5 -o obn.json -- sleep 0.05 2>err
check "run --baseline compares with the baseline's run of the same command (exit 0)" test $? -eq 0
check "run --baseline: compared with that command's figure, not the first row's" py "
import json; b=json.load(open('obn.json'))['baseline']
assert b['compared']=='sleep 0.05' and b['baseline_energy_j']==100.0 and b['regressed'] is False, b
assert b['baseline_kind']=='run' and b['not_this_command_because'] is None, b"
rm -f ranx
"$cg" run -q --baseline o1.json --fail-if-regressed 5 -- touch ranx 2>err
check "run --baseline of another command is refused before running (exit 2)" test $? -eq 2 -a ! -e ranx
check "run --baseline says the baseline has no run of the command" grep -q "o1.json has no run of \`touch ranx\` (its first command is \`sleep 0.1\`).*nothing was run" err
"$cg" diff --json sa.json sb.json >/dev/null 2>&1
"$cg" run -q --baseline sa.json -- touch ranx 2>err
check "run --baseline of a Session report is refused (exit 2)" test $? -eq 2 -a ! -e ranx
check "run --baseline names the kind" grep -q "sa.json is a session report, not a codegreen run report" err
"$cg" run -q --baseline-any --baseline o1.json -o any.json -- touch ranx 2>err
check "--baseline-any compares all the same" test $? -eq 0 -a -e ranx
check "--baseline-any: the report says what was compared and why it is not this command's" py "
import json; b=json.load(open('any.json'))['baseline']
assert b['compared']=='sleep 0.1' and b['baseline_energy_j']==2.0, b
assert 'has no run of' in b['not_this_command_because'], b"

# --- provenance: sides named, never a gate across sources or over an unmeasured side ---
cat >mk2.py <<'PY'
import json
def rep(path, source, quality, energies):
    runs = [{"task": "run-%d" % (i + 1), "command_index": 0, "warmup": False, "exit_status": 0,
             "in_statistics": True, "energy_j": e, "duration_s": 1.0} for i, e in enumerate(energies)]
    json.dump({"meta": {"argv": ["./b"], "energy_source": source, "measurement_quality": quality},
               "tasks": [], "totals": {}, "runs": runs, "commands": [{"index": 0, "command": "./b"}]},
              open(path, "w"))
rep("m1.json", "measured", "ok", [10, 11, 12, 13])
rep("e1.json", "estimated", "ok", [20, 21, 22, 23])
rep("n1.json", "none", "no_backend", [0, 0, 0, 0])
# A Session whose 20 instances of "step" are detailed only for the first 5 (task_detail_limit 5):
# the first five cheap, the rest dear; the comparison must use all 20 (task_groups).
def sess(path, first, rest):
    es = [first] * 5 + [rest] * 15
    json.dump({"meta": {"session_name": "g", "energy_source": "simulated", "measurement_quality": "ok"},
               "tasks": [{"name": "step", "energy_j": e, "duration_s": 0.1} for e in es[:5]],
               "totals": {"energy_j": sum(es), "wall_duration_s": 10.0, "task_duration_s": 2.0},
               "task_groups": [{"name": "step", "parent": None, "depth": 0, "count": 20, "detailed": 5,
                                "energy_j": {"sum": sum(es), "mean": sum(es) / 20, "min": min(es), "max": max(es)},
                                "duration_s": {"sum": 2.0, "mean": 0.1, "min": 0.1, "max": 0.1}}]},
              open(path, "w"))
sess("g1.json", 1.0, 1.0)
sess("g2.json", 1.0, 3.0)
PY
py "exec(open('mk2.py').read())"
"$cg" diff --fail-if-regressed 5 e1.json m1.json >d4.txt 2>err
check "diff gate refuses an estimate against a measurement (exit 2)" test $? -eq 2
check "diff gate says the sources differ" grep -q "cannot decide: A (e1.json) is estimated and B (m1.json) is measured" err
check "diff table names both sides' energy_source" grep -q "^A: e1.json  (run report, energy_source estimated" d4.txt
"$cg" diff -o d4.csv -o d4.md -o d4.json e1.json m1.json >/dev/null 2>err
check "diff without a gate warns when the sources differ" grep -q "WARNING: A (e1.json) is estimated" err
check "diff's files carry both energy_source" py "
import csv, json
r=next(csv.DictReader(open('d4.csv'))); assert (r['a_energy_source'], r['b_energy_source'])==('estimated','measured'), r
d=json.load(open('d4.json')); assert d['a_energy_source']=='estimated' and d['comparable'] is False, d
assert 'estimated' in open('d4.md').readline() and 'NOT COMPARABLE' in open('d4.md').readline()"
"$cg" diff --fail-if-regressed 5 m1.json n1.json >d5.txt 2>err
check "diff gate refuses an unmeasured side (exit 2)" test $? -eq 2
check "diff gate says which side was not measured" grep -q "B (n1.json) was not measured (energy_source none" err
check "an unmeasured side shows no change, never -100 % or nan" py "
t=open('d5.txt').read(); assert 'nan' not in t.lower() and '-100' not in t and 'not compared' in t, t"
"$cg" diff --fail-if-regressed 5 n1.json m1.json >/dev/null 2>err
check "diff gate refuses an unmeasured A too (exit 2)" test $? -eq 2
check "diff gate over an unmeasured A prints no nan" sh -c '! grep -qi nan err' 
"$cg" diff --json g1.json g2.json >d6.json 2>/dev/null
check "diff uses task_groups beyond the detail limit: all 20 instances, untested" py "
import json; rows={r['name']:r for r in json.load(open('d6.json'))['rows']}
s=rows['step']
assert abs(s['a_energy_j']-1.0)<1e-12 and abs(s['b_energy_j']-(5+45)/20)<1e-12, s
assert abs(s['energy_diff_percent']-150)<1e-9 and s['a_n']==20 and s['a_detailed']==5, s
assert s['significant'] is None and 'details 5 of 20' in s['not_tested_because'], s
t=rows['(total)']; assert abs(t['a_power_w']-20/2.0)<1e-12, t  # energy_j over task_duration_s"
"$cg" diff g1.json g2.json >d6.txt 2>&1
check "diff's table says the test is skipped for partial detail" grep -q "not tested (only the first instances detailed)" d6.txt
"$cg" run -q -r 2 -o simb.json -- true 2>/dev/null
CODEGREEN_PROVIDERS=estimate "$cg" run -q -r 2 --baseline simb.json --fail-if-regressed 5 -- true 2>err
check "run --baseline gate refuses another energy_source (exit 2)" test $? -eq 2
check "run --baseline says both sources" grep -q "cannot decide against the baseline: A (simb.json) is simulated and B (this run) is estimated" err

# --- a provider list the user named must open: an error before anything runs ---
for bad in simm 'sim,' 'sim,sim' SIM; do
  rm -f ranp
  CODEGREEN_PROVIDERS=$bad "$cg" run -q -- touch ranp 2>err
  check "CODEGREEN_PROVIDERS='$bad' is an error (exit 1), nothing run" test $? -eq 1 -a ! -e ranp
  check "CODEGREEN_PROVIDERS='$bad': says why" grep -q "cannot measure with the providers named by CODEGREEN_PROVIDERS: .*; nothing was run" err
done
CODEGREEN_SIM_CONFIG='{"update_interval_us":0}' "$cg" run -q -- touch ranp 2>err
check "a bad CODEGREEN_SIM_CONFIG for a named sim is an error" test $? -eq 1 -a ! -e ranp
check "a bad CODEGREEN_SIM_CONFIG names the key" grep -q "update_interval_us = 0 is out of range" err
echo '{"providers":{"list":"simm"}}' >pl.json
env -u CODEGREEN_PROVIDERS "$cg" run -q -c pl.json -- touch ranp 2>err
check "providers.list naming an unknown provider is an error" test $? -eq 1 -a ! -e ranp
check "providers.list: says where the list came from" grep -q "named by providers.list in the configuration" err

# --- the short-run warning counts counter updates, not samples ---
CODEGREEN_SIM_CONFIG='{"update_interval_us":100000}' "$cg" run --interval-ms 1 -- sleep 0.2 2>err
check "short-run warning from the counter's 100 ms updates" grep -Eq "under 50 counter updates \(about (9[0-9]|10[0-9])(\.[0-9])? ms each\)" err
CODEGREEN_SIM_CONFIG='{"update_interval_us":1000}' "$cg" run --interval-ms 50 -- sleep 0.2 2>err
check "no short-run warning at 50 ms sampling over 200 counter updates" sh -c '! grep -q "under 50 counter updates" err'

# --- every verb's --help lists every long option of its getopt table ---
src=${CODEGREEN_SOURCE_DIR:-}
if [ -n "$src" ] && [ -d "$src/src/cli" ]; then
  for verb in run measure diff plot sample info analyze setup-permissions; do
    file="$src/src/cli/cmd_$(echo "$verb" | tr - _).c"
    [ -f "$file" ] || continue
    "$cg" "$verb" --help >help.txt 2>&1
    missing=""
    for opt in $(grep -o '{"[a-z-]*", \(no\|required\|optional\)_argument' "$file" | sed 's/{"\([a-z-]*\)".*/\1/'); do
      grep -q -- "--$opt" help.txt || missing="$missing --$opt"
    done
    check "$verb --help lists every option ($missing)" test -z "$missing"
  done
fi

finish compare
