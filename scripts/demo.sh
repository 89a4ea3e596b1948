#!/bin/sh
# demo.sh - the main job: install, build, show what this machine can measure, and measure a
# two-second sample workload (one busy thread) with the sampler at 1 ms.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release
echo
build/bin/codegreen info
echo
build/bin/codegreen sample --duration 2 --load 1
