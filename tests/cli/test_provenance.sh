#!/bin/sh
# test_provenance.sh - every front says the same provenance (issue 15): on the simulated device,
# on a machine with no counter (the estimate) and on a fixture RAPL machine, `info --json`,
# `sample --json`, `run`'s report and summary line, `run --export-plot`'s page and `measure`'s
# report and summary line all give the one word of nemb_meter_energy_source() and the one
# wording of nemb_energy_source_words().
# usage: test_provenance.sh CODEGREEN_BIN FIXTURES_DIR
cg=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
fx=$(cd "$2" && pwd)
. "$(dirname "$0")/lib.sh"
if [ -n "${CODEGREEN_SOURCE_DIR:-}" ]; then
  export CODEGREEN_PYTHON_DIR="$CODEGREEN_SOURCE_DIR/python"
fi
have_measure=1
/usr/bin/python3 -c "import sys; sys.path.insert(0, '${CODEGREEN_PYTHON_DIR:-.}'); import codegreen_runtime" >/dev/null 2>&1 || have_measure=0
if [ -n "${CODEGREEN_LIB_PATH:-}" ] && [ ! -e "$CODEGREEN_LIB_PATH" ]; then
  have_measure=0
fi
[ "$have_measure" = 1 ] || echo "note: codegreen_runtime not importable: measure's front not checked"
cd "$tmp" || exit 1
printf 'def f():\n    return sum(range(1000))\n\nf()\n' >prog.py

# field FILE PATH...: prints the JSON value at PATH (keys) of FILE, or an empty line.
field() {
  /usr/bin/python3 - "$@" <<'PY'
import json, re, sys
path, keys = sys.argv[1], sys.argv[2:]
text = open(path, encoding="utf-8").read()
m = re.search(r'<script type="application/json" id="codegreen-data">(.*?)</script>', text, re.S)
d = json.loads(m.group(1) if m else text)
for k in keys:
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else d)
PY
}

# front_check CASE WORD WORDS: the fronts under the current environment.
front_check() {
  case_=$1 word=$2 words=$3
  "$cg" info --json >info.json 2>/dev/null
  check "$case_: info --json says $word" test "$(field info.json selection mode)" = "$word"
  "$cg" sample --json -d 0.1 >sample.json 2>/dev/null
  check "$case_: sample --json says $word" test "$(field sample.json energy_source)" = "$word"
  "$cg" run -o run.json --export-plot page.html -- true >/dev/null 2>run.err
  check "$case_: run's report says $word" test "$(field run.json meta energy_source)" = "$word"
  check "$case_: run's summary says '$words'" grep -qF "[$words]" run.err
  check "$case_: the plot's data says $word" test "$(field page.html energy_source)" = "$word"
  if [ "$word" = measured ]; then
    check "$case_: the plot draws no provenance label" test -z "$(field page.html provenance)"
  else
    check "$case_: the plot's label is '$words'" test "$(field page.html provenance)" = "$words"
  fi
  if [ "$have_measure" = 1 ]; then
    "$cg" measure -o measure.json prog.py >/dev/null 2>measure.err
    check "$case_: measure's report says $word" \
      test "$(field measure.json meta energy_source)" = "$word"
    check "$case_: measure's summary says '$words'" grep -qF "[$words]" measure.err
  fi
}

CODEGREEN_PROVIDERS=sim
export CODEGREEN_PROVIDERS
front_check sim simulated "SIMULATED device, not hardware"
unset CODEGREEN_PROVIDERS

CODEGREEN_SYSFS_ROOT="$fx/estimate"
export CODEGREEN_SYSFS_ROOT
front_check estimate estimated "ESTIMATED from CPU time, not measured"

CODEGREEN_SYSFS_ROOT="$fx/intel-client"
front_check rapl measured "measured"
unset CODEGREEN_SYSFS_ROOT

finish provenance
