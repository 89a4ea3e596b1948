#!/bin/sh
# test.sh [--under-load] - install, build every variant and run every test: the plain build, then
# the same tests under AddressSanitizer + UndefinedBehaviorSanitizer and under ThreadSanitizer,
# the Python tests, the C formatting check (scripts/format.sh --check), and (when clang is
# present) each libFuzzer harness for a few seconds from its seed corpus (scripts/fuzz.sh). The
# one test labelled "long" (a one-hour session) is left out; run it with
#   ctest --test-dir build -L long
# --under-load: the whole suite three times in a row while `stress-ng --cpu 2` keeps two cores
# busy, the proof that the tests check behaviour and not the scheduler (not CI's default run).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
if [ "${1:-}" = "--under-load" ]; then
  stress-ng --cpu 2 --quiet &
  load=$!
  trap 'kill $load 2>/dev/null; wait $load 2>/dev/null' EXIT INT TERM
  fails=0
  for round in 1 2 3; do
    echo "##### under load: round $round of 3 #####"
    if ./scripts/test.sh; then echo "##### round $round passed"; else
      echo "##### round $round FAILED"; fails=$((fails + 1)); fi
  done
  echo "##### under load: $((3 - fails)) of 3 rounds passed"
  [ $fails -eq 0 ]
  exit
fi
status=0
for variant in release asan tsan; do
  echo "=== $variant ==="
  ./scripts/build.sh "$variant"
  case "$variant" in
    release) dir=build ;;
    *) dir=build-$variant ;;
  esac
  # TSAN: report and fail on the first race; ASAN: leaks count too.
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir "$dir" --output-on-failure -j2 -LE long || status=1
done
# The Python package and the CLI's Python end-to-end tests, against the plain build.
if [ -d python/tests ]; then
  echo "=== python ==="
  CODEGREEN_LIB_PATH="$PWD/build/lib/libcodegreen-nemb.so" CODEGREEN_BIN="$PWD/build/bin/codegreen" \
    PYTHONPATH="$PWD/python" /usr/bin/python3 -m pytest -q python/tests || status=1
fi
echo "=== format ==="
./scripts/format.sh --check || status=1
echo "=== fuzz ==="
./scripts/fuzz.sh 5 || status=1
exit $status
