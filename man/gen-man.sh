#!/bin/sh
# gen-man.sh - writes codegreen's manual pages from their one source each:
#   codegreen.1 and codegreen-VERB.1   help2man over `codegreen --help` / `codegreen VERB --help`
#                                      (so the pages list exactly the options the program has),
#                                      plus the hand-written sections in man/codegreen.h2m and,
#                                      when present, man/codegreen-VERB.h2m;
#   nemb.3                             scdoc over man/nemb.3.scd.in, whose SYNOPSIS is filled with
#                                      every NEMB_EXTERN declaration of include/nemb.h.
# The verbs are the ones `codegreen --help` lists, so a new verb gets its page with no change here.
# Pages go to OUT_DIR/man1 and OUT_DIR/man3 (emptied first: a removed verb leaves no stale page).
# usage: gen-man.sh CODEGREEN_BIN MAN_SRC_DIR HEADER VERSION OUT_DIR
set -eu
bin=$1
src=$2
header=$3
version=$4
out=$5
verbs=$("$bin" --help | awk '/^commands:/ {on = 1; next} on && /^$/ {exit}
                             on && /^  [a-z]/ {print $1}')
[ -n "$verbs" ] || { echo "gen-man.sh: no commands in '$bin --help'" >&2; exit 1; }
set -- $verbs
rm -rf "$out/man1" "$out/man3"
mkdir -p "$out/bin" "$out/man1" "$out/man3"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cg-man-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# What `codegreen --help` says a verb does, for the page's NAME line.
summary() {
  "$bin" --help | awk -v v="$1" '$1 == v {sub(/^[ \t]*[^ \t]+[ \t]+/, ""); print; exit}'
}

# SEE ALSO, shared by every page.
see_also=""
for v in "$@"; do
  see_also="$see_also.BR codegreen-$v (1),
"
done

# help2man reads the synopsis from a line starting "Usage:"; codegreen writes "usage:".
wrapper() { # $1: the wrapper's name, $2: the verb or ""
  printf '#!/bin/sh\n"%s" %s "$@" | sed "1s/^usage:/Usage:/"\n' "$bin" "$2" >"$out/bin/$1"
  chmod +x "$out/bin/$1"
}

wrapper codegreen ""
{
  cat "$src/codegreen.h2m"
  printf '[SEE ALSO]\n%s.BR nemb (3)\n' "$see_also"
} >"$tmp/codegreen.h2m"
help2man --no-info --no-discard-stderr --version-string="$version" \
  --name="how many joules does your code cost" --section=1 --source="codegreen $version" \
  --manual="codegreen manual" --include="$tmp/codegreen.h2m" --output="$out/man1/codegreen.1" "$out/bin/codegreen"

for v in "$@"; do
  # help2man names the page after the program: a wrapper called codegreen-VERB.
  wrapper "codegreen-$v" "$v"
  : >"$tmp/$v.h2m"
  if [ -f "$src/codegreen-$v.h2m" ]; then
    cat "$src/codegreen-$v.h2m" >"$tmp/$v.h2m"
  fi
  printf '[SEE ALSO]\n.BR codegreen (1),\n%s.BR nemb (3)\n' "$see_also" >>"$tmp/$v.h2m"
  name=$(summary "$v")
  help2man --no-info --no-discard-stderr --version-string="$version" \
    --name="${name:-the $v command of codegreen}" --section=1 --source="codegreen $version" \
    --manual="codegreen manual" --include="$tmp/$v.h2m" --output="$out/man1/codegreen-$v.1" \
    "$out/bin/codegreen-$v"
done

# nemb(3): every public declaration, in the header's order, one per paragraph.
awk '/^NEMB_EXTERN/ {decl = ""; inside = 1}
     inside {line = $0; sub(/^NEMB_EXTERN /, "", line); gsub(/^[ \t]+/, " ", line);
             decl = decl line}
     inside && /;[ \t]*$/ {print decl; inside = 0}' "$header" |
  sed 's/^/\t/' >"$tmp/decls"
awk -v decls="$tmp/decls" -v version="$version" '
  /^@DECLARATIONS@$/ {while ((getline l < decls) > 0) print l; next}
  {gsub(/@VERSION@/, version); print}' "$src/nemb.3.scd.in" >"$tmp/nemb.3.scd"
scdoc <"$tmp/nemb.3.scd" >"$out/man3/nemb.3"
touch "$out/stamp"
