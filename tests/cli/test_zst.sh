#!/bin/sh
# test_zst.sh - every verb that reads a report FILE reads zstd-compressed ones (.json.zst, or any
# file with zstd's magic) through the one loader: `plot` draws the same SVG from a .json.zst as
# from its .json, `diff` and `run --baseline` take one, `merge` gathers .json.zst rank reports;
# truncated zstd and truncated JSON are refused with a clear message; --append writes a .csv.zst
# that is not there yet, and refuses to add to one.
# usage: test_zst.sh CODEGREEN_BIN FIXTURES
cg=$1
fixtures=$2
. "$(dirname "$0")/lib.sh"
export CODEGREEN_PROVIDERS=sim
command -v zstd >/dev/null 2>&1 || { echo "SKIP: no zstd tool"; exit 77; }
cd "$tmp"
cp "$fixtures/reports/nested.json" r.json
zstd -q r.json -o r.json.zst

# plot: the same picture (one process each: cairo numbers the SVG's glyphs per process)
check "plot .json" "$cg" plot -q r.json -o a.svg
check "plot .json.zst" "$cg" plot -q r.json.zst -o b.svg
check "the same SVG" cmp -s a.svg b.svg

# diff and run --baseline take a compressed report
check "diff .json.zst .json" sh -c "'$cg' diff r.json.zst r.json >diff.out 2>diff.err"
check "diff names the tasks" grep -q outer diff.out
"$cg" run -q -o rb.json -- true 2>/dev/null && zstd -q rb.json -o rb.json.zst
check "run --baseline .json.zst" sh -c "'$cg' run -q --baseline rb.json.zst -- true >run.out 2>run.err"

# merge gathers compressed rank reports beside plain ones
mkdir job
for rank in 5 6; do
  py "import json,sys; json.dump({'meta': {'energy_source': 'simulated', 'pid': 500 + $rank,
    'job': {'id': '77', 'rank': $rank, 'node': 'c', 'role': 'self', 'cpu_time_s': 1.0,
            'node_energy_j': 10.0 * $rank}}, 'tasks': [], 'totals': {'energy_j': 10.0 * $rank}},
    open('job/codegreen_77_$rank.json', 'w'))"
done
zstd -q --rm job/codegreen_77_6.json -o job/codegreen_77_6.json.zst
check "merge reads .json.zst" sh -c "'$cg' merge job -o job.json 2>merge.err"
check "both ranks merged" py "import json; j = json.load(open('job.json'));
m = j['meta']['merged_from']; assert sorted(m) == ['codegreen_77_5.json', 'codegreen_77_6.json.zst'], m"

# truncated input: clear messages
head -c 2000 r.json.zst >cut.json.zst
# merge leaves out a file it cannot read, saying why (not "not a step or rank report")
cp cut.json.zst job/codegreen_77_7.json.zst
: >job/codegreen_77_8.json.zst
check "merge with a truncated and an empty rank" sh -c "'$cg' merge job -o job2.json 2>merge2.err"
check "merge: truncated zstd is named" grep -q "codegreen_77_7.json.zst is truncated: .*; left out" merge2.err
check "merge: empty file is named" grep -q "codegreen_77_8.json.zst is empty (0 bytes).*; left out" merge2.err
check "merge: the readable ranks still merged" py "import json; j = json.load(open('job2.json'));
assert sorted(j['meta']['merged_from']) == ['codegreen_77_5.json', 'codegreen_77_6.json.zst']"
"$cg" plot -q cut.json.zst -o c.svg 2>plot.err && fail "a truncated zstd report was plotted"
check "plot: truncated zstd is named" grep -q "cut.json.zst is truncated" plot.err
"$cg" diff cut.json.zst r.json >/dev/null 2>diff2.err && fail "diff read a truncated zstd report"
check "diff: truncated zstd is named" grep -q "cut.json.zst is truncated" diff2.err
head -c 3000 r.json >cut.json
"$cg" plot -q cut.json -o c.svg 2>plot2.err && fail "a truncated report was plotted"
check "plot: truncated JSON has a line" grep -q "cut.json is not valid JSON (line [0-9]*, column" plot2.err
# every -o kind takes .zst: the CSV and Markdown outputs of one run, compressed, are the plain ones
check "run -o .csv.zst .md.zst" "$cg" run -q -o t.csv -o t.csv.zst -o t.md -o t.md.zst -- true
check "csv.zst holds the .csv" sh -c "zstd -dcq t.csv.zst | cmp - t.csv"
check "md.zst holds the .md" sh -c "zstd -dcq t.md.zst | cmp - t.md"
"$cg" run -q -o x.txt.zst -- true 2>kind.err && fail "an unknown kind under .zst was accepted"
check "unknown kind names the .zst rule" grep -q "each also with .zst" kind.err
"$cg" run -q --append -o t.csv.zst -- true 2>app.err && fail "--append to a .csv.zst was accepted"
check "--append to .zst says why" grep -q "zstd-compressed, and rows are added to plain CSV" app.err
check "--append to a .csv.zst not yet there writes it" "$cg" run -q --append -o new.csv.zst -- true
check "--append's new .csv.zst holds the header and the row" py "
import csv, subprocess
rows=list(csv.DictReader(subprocess.run(['zstd','-dcq','new.csv.zst'],capture_output=True,text=True).stdout.splitlines()))
assert len(rows)==1 and rows[0]['command']=='true', rows"
finish test_zst
