#!/bin/sh
# build.sh [release|asan|tsan] - configures and builds one variant of codegreen.
#   release  build/       the library, CLI, tests and benchmarks (gcc)
#   asan     build-asan/  the same under AddressSanitizer + UndefinedBehaviorSanitizer (gcc)
#   tsan     build-tsan/  the same under ThreadSanitizer (clang)
set -eu
cd "$(dirname "$0")/.."
variant=${1:-release}
case "$variant" in
  release) dir=build; cc=gcc; san="" ;;
  asan) dir=build-asan; cc=gcc; san="address,undefined" ;;
  tsan) dir=build-tsan; cc=clang; san="thread" ;;
  *) echo "usage: $0 [release|asan|tsan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DCMAKE_C_COMPILER="$cc" -DNEMB_SANITIZE="$san" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -- -j"$(nproc)"
