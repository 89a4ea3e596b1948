#!/bin/sh
# demo.sh - the main job: install the dependencies, build, install codegreen (library, CLI,
# header and the Python package, under /usr/local), show what this machine can measure, then
# measure a sample workload (examples/workload.py) four ways: the sampler alone for 2 s with one
# busy thread, the whole command over three runs, every function of it, and a Python Session.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
$as_root cmake --install build >/dev/null
$as_root ldconfig
cg=build/bin/codegreen
echo
$cg info
echo
$cg sample --duration 2 --load 1
echo
$cg run -r 3 -- python3 examples/workload.py
echo
$cg measure python examples/workload.py
echo
/usr/bin/python3 - <<'PY'
import sys
sys.path.insert(0, "examples")
import codegreen
import workload

with codegreen.Session("demo", save_to_file=False) as s:
    with s.task("hot_loop"):
        workload.hot_loop(2_000_000)
    with s.task("fib"):
        workload.fib(20)
meta, totals = s.report["meta"], s.report["totals"]
print("codegreen.Session: %.4f J in %d tasks (%s; quality %s)"
      % (totals["energy_j"], totals["n_tasks"], meta["energy_source"], meta["measurement_quality"]))
for t in s.report["tasks"]:
    print("  %-10s %.4f J  %.4f s  %.2f W" % (t["name"], t["energy_j"], t["duration_s"], t["avg_power_w"]))
PY
