#!/bin/sh
# bench.sh [--quick] [name...] - builds the release variant and runs the benchmarks under bench/,
# each printing its figures as paired, interleaved median ratios against a yardstick (with the
# IQR as spread). Not part of test.sh: benchmarks assert nothing, and their figures only mean
# something on a quiet machine. Names: hotpath sampler python figures scale accuracy
# (default: all but accuracy). --quick runs shorter versions, to check that they work.
set -eu
cd "$(dirname "$0")/.."
quick=0
names=""
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) names="$names $a" ;;
  esac
done
[ -n "$names" ] || names="hotpath sampler python figures scale"
./scripts/build.sh release >/dev/null
py=/usr/bin/python3
export CODEGREEN_LIB_PATH="$PWD/build/lib/libcodegreen-nemb.so" PYTHONPATH="$PWD/python"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs," \
  "$(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $names; do
  echo
  case "$n" in
    hotpath) if [ $quick = 1 ]; then ./build/bin/bench_hotpath 5 20000 2000; else ./build/bin/bench_hotpath; fi ;;
    sampler) if [ $quick = 1 ]; then ./build/bin/bench_sampler 0.2 5 sim estimate; else ./build/bin/bench_sampler; fi ;;
    python) if [ $quick = 1 ]; then $py bench/bench_python.py --quick; else $py bench/bench_python.py; fi ;;
    figures) if [ $quick = 1 ]; then $py bench/bench_python_figures.py --rounds 1 --stdlib "$PWD/python"; else $py bench/bench_python_figures.py; fi ;;
    scale) if [ $quick = 1 ]; then $py bench/bench_scale.py --seconds 2 --tasks 5000; else $py bench/bench_scale.py; fi ;;
    accuracy) ./build/bin/bench_accuracy ;;
    *) echo "bench.sh: unknown benchmark $n (hotpath sampler python figures scale accuracy)" >&2; exit 2 ;;
  esac
done
