#!/bin/sh
# format.sh [--check] - formats the project's own C sources with the committed .clang-format and
# Debian's clang-format (installed by scripts/setup.sh): src/, include/, tests/ (but not the
# instrumenter's input programs in tests/instrument/), bench/, python/ext/ and java/ (*.c, *.h).
# Generated and vendored code (node_modules, build*/) is not touched.
#   (no option)  rewrites the files in place
#   --check      changes nothing; lists each file that differs and exits 1 if any does
set -eu
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  "" | --check) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
command -v clang-format >/dev/null 2>&1 || {
  echo "format.sh: clang-format is not installed (run scripts/setup.sh)" >&2; exit 2; }
# tests/instrument/ holds programs the instrumenter reads: their layout (line numbers) is what the
# tests expect, so they are inputs, not code of ours to format.
files=$(git ls-files -- 'src/*.c' 'src/*.h' 'include/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' \
  'bench/*.h' 'python/ext/*.c' 'python/ext/*.h' 'java/*.c' 'java/*.h' ':!tests/instrument/*')
if [ "$mode" != "--check" ]; then
  # shellcheck disable=SC2086
  clang-format -i --style=file $files
  exit 0
fi
bad=0
for f in $files; do
  if ! clang-format --style=file "$f" | cmp -s - "$f"; then
    echo "$f"
    bad=$((bad + 1))
  fi
done
if [ "$bad" -gt 0 ]; then
  echo "format.sh: $bad file(s) differ from .clang-format; run scripts/format.sh" >&2
  exit 1
fi
