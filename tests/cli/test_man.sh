#!/bin/sh
# test_man.sh - the manual pages say what the program does: every verb `codegreen --help` lists
# has a page, each page lists exactly the options its verb's --help lists (and codegreen(1) none
# that no verb has), nemb(3) declares every public function of nemb.h, the pages render without
# groff warnings, and `cmake --install` puts them where man(1) finds them.
# usage: test_man.sh CODEGREEN MAN_DIR HEADER BUILD_DIR
bin=$1
mandir=$2
header=$3
build=$4
. "$(dirname "$0")/lib.sh"

# Options named in a text: -x or --word, at the start or after a space, '[', ',', '(' or '|'.
options() {
  grep -v '^\.\\"' | sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' |
    grep -oE '(^|[][[:space:],(|])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[^-]*//' | sort -u
}

verbs=$("$bin" --help | awk '/^commands:/ {on = 1; next} on && /^$/ {exit}
                             on && /^  [a-z]/ {print $1}')
[ -n "$verbs" ] && ok || fail "no verbs in codegreen --help"
all_help="$tmp/all_help"
"$bin" --help | options >"$all_help"
for v in $verbs; do
  page="$mandir/man1/codegreen-$v.1"
  if [ ! -f "$page" ]; then
    fail "codegreen $v has no page ($page)"
    continue
  fi
  "$bin" "$v" --help | options >"$tmp/help"
  # Each option is described once (a line that starts with it).
  twice=$("$bin" "$v" --help | grep -oE '^  (-[A-Za-z], )?--?[A-Za-z][A-Za-z0-9-]*' |
    sed -E 's/^ +//' | sort | uniq -d | tr '\n' ' ')
  [ -z "$twice" ] && ok || fail "codegreen $v --help describes these options twice: $twice"
  options <"$page" >"$tmp/page"
  [ "$v" = measure ] && cp "$tmp/page" "$tmp/measure_page"
  cat "$tmp/help" >>"$all_help"
  if cmp -s "$tmp/help" "$tmp/page"; then
    ok
    echo "ok: codegreen-$v(1) lists the $(wc -l <"$tmp/help") options of codegreen $v --help"
  else
    fail "codegreen-$v(1) and codegreen $v --help differ (< help, > page): $(diff "$tmp/help" "$tmp/page" | grep '^[<>]' | tr '\n' ' ')"
  fi
done

# Issue F16: measure's C, C++ and Java options (measure_native.c) are in its --help, so its page.
for o in --cc --cflags --build --instrument --main --java --javac; do
  grep -qx -- "$o" "$tmp/measure_page" && ok || fail "codegreen-measure(1) lacks $o"
done

# codegreen(1): everything the main --help says, and no option that no verb has.
sort -u "$all_help" -o "$all_help"
options <"$mandir/man1/codegreen.1" >"$tmp/page"
"$bin" --help | options >"$tmp/help"
missing=$(comm -23 "$tmp/help" "$tmp/page")
unknown=$(comm -13 "$all_help" "$tmp/page")
[ -z "$missing" ] && ok || fail "codegreen(1) lacks main --help options: $missing"
[ -z "$unknown" ] && ok || fail "codegreen(1) names options no verb has: $unknown"

# nemb(3): every public function.
n=0
for f in $(grep -o '^NEMB_EXTERN [^(]*(' "$header" | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/'); do
  n=$((n + 1))
  grep -q "$f(" "$mandir/man3/nemb.3" || fail "nemb(3) does not declare $f"
done
[ "$n" -gt 10 ] && ok && echo "ok: nemb(3) declares the $n functions of nemb.h" ||
  fail "only $n functions found in $header"

# Every page renders cleanly.
for page in "$mandir"/man1/*.1 "$mandir"/man3/*.3; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  [ -z "$warnings" ] && ok || fail "$(basename "$page"): $warnings"
done

# Installed where man finds them.
prefix=$tmp/prefix
if cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  for p in "1 codegreen" "1 codegreen-run" "3 nemb"; do
    set -- $p
    where=$(MANPATH="$prefix/share/man" man -w "$1" "$2" 2>&1)
    case "$where" in
      "$prefix"/share/man/man$1/$2.$1*) ok ;;
      *) fail "man -w $1 $2 after cmake --install: $where" ;;
    esac
  done
  echo "ok: man codegreen, man codegreen-run and man 3 nemb find the installed pages"
else
  fail "cmake --install: $(tail -5 "$tmp/install.log")"
fi

finish man
