#!/bin/sh
# test.sh - install, build every variant and run every test: the plain build, then the same
# tests under AddressSanitizer + UndefinedBehaviorSanitizer and under ThreadSanitizer. The one
# test labelled "long" (a one-hour session) is left out; run it with
#   ctest --test-dir build -L long
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
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
exit $status
