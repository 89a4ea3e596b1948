#!/bin/sh
# test.sh - install, build every variant and run every test: the plain build, then the same
# tests under AddressSanitizer + UndefinedBehaviorSanitizer and under ThreadSanitizer. The one
# test labelled "long" (a one-hour session) is left out; run it with
#   ctest --test-dir build -L long
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
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
exit $status
