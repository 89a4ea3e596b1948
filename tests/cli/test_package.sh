#!/bin/sh
# test_package.sh - C and C++ users build against an installed copy: `cmake --install` into a
# temporary prefix, then the README's C example (extracted as written) is compiled through
# pkg-config (codegreen-nemb.pc) and through CMake (find_package(codegreen-nemb) ->
# codegreen::nemb), and both programs run and print each task's joules. Also checks the version
# rule (SameMajorVersion) and that the installed CLI finds its library with no LD_LIBRARY_PATH.
# usage: test_package.sh BUILD_DIR SOURCE_DIR C_COMPILER [EXTRA_CFLAGS]
# (EXTRA_CFLAGS: a sanitizer build's -fsanitize=..., which its consumers need too)
build=$1
src=$2
cc=$3
extra=${4:-}
. "$(dirname "$0")/lib.sh"

prefix=$tmp/prefix
if ! cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "package: 0 passed, 1 failed"
  exit 1
fi
pc=$(find "$prefix" -name codegreen-nemb.pc | head -1)
cfg=$(find "$prefix" -name codegreen-nemb-config.cmake | head -1)
[ -n "$pc" ] && ok "codegreen-nemb.pc installed (${pc#$prefix/})" || fail "no codegreen-nemb.pc"
[ -n "$cfg" ] && ok "CMake package installed (${cfg#$prefix/})" || fail "no codegreen-nemb-config.cmake"

# The README's first C block, exactly as written.
awk '/^```c$/ {inside = 1; next} inside && /^```$/ {exit} inside {print}' "$src/README.md" \
  >"$tmp/train.c"
grep -q 'nemb_session_task_info' "$tmp/train.c" && ok "README C example uses nemb_session_task_info" ||
  fail "README C example lacks nemb_session_task_info"

run_example() { # $1: label, $2: program
  out=$(cd "$tmp" && env -u LD_LIBRARY_PATH CODEGREEN_PROVIDERS=sim "$2" 2>&1)
  rc=$?
  if [ $rc -ne 0 ]; then
    fail "$1: the program failed ($rc): $out"
    return
  fi
  # Each task's line: name, joules > 0, seconds.
  if printf '%s\n' "$out" | awk '$1 == "data_load" && $2 > 0 && $3 == "J" {a = 1}
                                 $1 == "train" && $2 > 0 && $3 == "J" {b = 1}
                                 $1 == "total" && $2 > 0 {c = 1}
                                 END {exit !(a && b && c)}'; then
    ok "$1: prints each task's joules"
  else
    fail "$1: unexpected output: $out"
  fi
}

# 1. pkg-config, from a directory that is not a standard prefix.
export PKG_CONFIG_PATH=$(dirname "$pc")
if flags=$(pkg-config --cflags --libs codegreen-nemb) &&
  [ "$(pkg-config --modversion codegreen-nemb)" = "$(sed -n 's/^#define NEMB_VERSION_[A-Z]* \([0-9]*\)$/\1/p' "$src/include/nemb.h" | paste -sd.)" ]; then
  libdir=$(pkg-config --variable=libdir codegreen-nemb)
  # As written: no extra feature macros, the strict warnings of the project.
  if "$cc" $extra -Wall -Wextra -Werror -pedantic "$tmp/train.c" -o "$tmp/train_pc" $flags \
    -Wl,-rpath,"$libdir" 2>"$tmp/cc.log"; then
    ok "pkg-config: the README example compiles and links"
    run_example "pkg-config" "$tmp/train_pc"
  else
    fail "pkg-config build: $(cat "$tmp/cc.log")"
  fi
else
  fail "pkg-config cannot read codegreen-nemb.pc"
fi

# 2. CMake: find_package(codegreen-nemb) and codegreen::nemb.
mkdir -p "$tmp/consumer"
cp "$tmp/train.c" "$tmp/consumer/"
cat >"$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(codegreen-nemb 0.1 REQUIRED)
add_executable(train train.c)
target_link_libraries(train PRIVATE codegreen::nemb)
CM
if cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$extra" >"$tmp/cmake.log" 2>&1 &&
  cmake --build "$tmp/consumer/build" >>"$tmp/cmake.log" 2>&1; then
  ok "CMake: find_package(codegreen-nemb) + codegreen::nemb builds the example"
  run_example "CMake" "$tmp/consumer/build/train"
else
  fail "CMake consumer: $(tail -20 "$tmp/cmake.log")"
fi

# 3. SameMajorVersion: a request for another major version is refused.
sed -i 's/find_package(codegreen-nemb 0.1 REQUIRED)/find_package(codegreen-nemb 1.0 REQUIRED)/' \
  "$tmp/consumer/CMakeLists.txt"
if cmake -S "$tmp/consumer" -B "$tmp/consumer/build1" -DCMAKE_PREFIX_PATH="$prefix" \
  >"$tmp/cmake1.log" 2>&1; then
  fail "find_package(codegreen-nemb 1.0) accepted a 0.x library"
elif grep -q "not compatible\|version" "$tmp/cmake1.log"; then
  ok "find_package(codegreen-nemb 1.0) refuses the 0.x library"
else
  fail "find_package(codegreen-nemb 1.0) failed for another reason: $(tail -5 "$tmp/cmake1.log")"
fi

# 4. The installed CLI finds its library by itself (RPATH $ORIGIN/../lib...).
if env -u LD_LIBRARY_PATH "$prefix/bin/codegreen" --version >"$tmp/v.log" 2>&1 &&
  grep -q "^codegreen " "$tmp/v.log"; then
  ok "installed codegreen runs without LD_LIBRARY_PATH"
else
  fail "installed codegreen: $(cat "$tmp/v.log")"
fi

finish package
