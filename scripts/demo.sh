#!/bin/sh
# demo.sh - the main job: install, build, show what this machine can measure, then measure a
# sample workload (examples/workload.py) three ways: the sampler alone for 2 s with one busy
# thread, the whole command over three runs, and every function of it.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release
cg=build/bin/codegreen
echo
$cg info
echo
$cg sample --duration 2 --load 1
echo
$cg run -r 3 -- python3 examples/workload.py
echo
$cg measure python examples/workload.py
