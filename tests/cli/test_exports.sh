#!/bin/sh
# test_exports.sh - the shared library exports exactly the nemb_* functions of include/nemb.h:
# nothing internal leaks into what ctypes and JNI load, and nothing declared is missing.
# usage: test_exports.sh LIBRARY HEADER
set -u
lib=$1
header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}' | sort)
declared=$(grep -o '^NEMB_EXTERN [^(]*(' "$header" | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort)
leaked=$(printf '%s\n' "$exported" | grep -v '^nemb_' || true)
missing=$(printf '%s\n' "$declared" | while read -r f; do
  printf '%s\n' "$exported" | grep -qx "$f" || echo "$f"
done)
extra=$(printf '%s\n' "$exported" | grep '^nemb_' | while read -r f; do
  printf '%s\n' "$declared" | grep -qx "$f" || echo "$f"
done)
failed=0
[ -z "$leaked" ] || { echo "FAIL: non-nemb symbols exported: $leaked"; failed=1; }
[ -z "$missing" ] || { echo "FAIL: declared but not exported: $missing"; failed=1; }
[ -z "$extra" ] || { echo "FAIL: exported but not in nemb.h: $extra"; failed=1; }
n=$(printf '%s\n' "$declared" | wc -l)
echo "exports: $n functions declared and exported"
[ "$failed" -eq 0 ] && echo "exports: 1 passed, 0 failed" || echo "exports: 0 passed, 1 failed"
exit $failed
