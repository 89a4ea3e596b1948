#!/bin/sh
# fuzz.sh [SECONDS] - builds the libFuzzer harnesses of tests/fuzz (clang, with AddressSanitizer
# and UndefinedBehaviorSanitizer, in build-fuzz/) and runs each for SECONDS (default 5) from its
# committed seed corpus. New inputs go to a temporary directory, never into the committed corpus.
# scripts/test.sh runs it briefly when clang is present; run it longer by hand, e.g.
#   ./scripts/fuzz.sh 600
# A crash leaves its input as build-fuzz/crash-* (libFuzzer prints how to replay it).
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-5}
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: clang is not installed; skipping the fuzzers (the seed corpus still runs in ctest)"
  exit 0
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DNEMB_SANITIZE=address,undefined \
  -DNEMB_FUZZ=ON -DNEMB_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz --target fuzz_config fuzz_instrument fuzz_report -- -j"$(nproc)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for h in config instrument report; do
  mkdir -p "$work/$h"
  # The instrumenter's seeds: its own inputs and the programs of tests/instrument/corpus.
  extra=""
  if [ "$h" = instrument ]; then extra=tests/instrument/corpus; fi
  echo "=== fuzz_$h: $seconds s ==="
  # -rss_limit_mb: the instrumenter's parser on 64 KiB inputs stays far below it.
  if ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "build-fuzz/bin/fuzz_$h" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/ "$work/$h" "tests/fuzz/corpus/$h" $extra 2>"$work/$h.log"; then
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$h.log" || true
  else
    tail -n 40 "$work/$h.log"
    status=1
  fi
done
exit $status
