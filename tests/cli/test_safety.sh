#!/bin/sh
# test_safety.sh - issue 11 end to end: outputs checked before anything runs, devices never
# replaced, the command's status kept when only the report fails, signals (SIGTERM, SIGHUP,
# SIGUSR1, SIGPIPE) passed on to the command's whole process group with the report still written,
# an inherited SIG_IGN kept, measure's report and temporary directory on SIGTERM, bounded reads.
# usage: test_safety.sh CODEGREEN_BIN PYTHON_DIR
cg=$1
pydir=$2
fixtures=$(cd "$(dirname "$0")/../fixtures" && pwd)
. "$(dirname "$0")/lib.sh"
signum() { /usr/bin/python3 -c "import signal, sys; print(int(getattr(signal, 'SIG' + sys.argv[1])))" "$1"; }
export TMPDIR="$tmp/t"
mkdir -m 700 "$TMPDIR"
export CODEGREEN_PROVIDERS=sim CODEGREEN_PYTHON_DIR="$pydir"
cd "$tmp" || exit 1

# --- outputs are checked before the command runs: a usage error (2), as an unknown extension ---
"$cg" run -q -o "$tmp/no/such/dir/r.json" -- touch "$tmp/ran" 2>"$tmp/err"
check "run: unwritable -o is a usage error" test $? -eq 2
check "run: nothing was run" test ! -e "$tmp/ran"
check "run: the message names the path and the reason" \
  grep -q "cannot write $tmp/no/such/dir/r.json: No such file or directory; nothing was run" \
  "$tmp/err"
"$cg" run -q --export-plot "$tmp/no/p.html" -- touch "$tmp/ran" 2>/dev/null
check "run: unwritable plot fails before running" test $? -eq 2 -a ! -e "$tmp/ran"
echo 'print("x")' >"$tmp/s.py"
"$cg" measure -q -o "$tmp/no/r.json" "$tmp/s.py" >"$tmp/out" 2>/dev/null
check "measure: unwritable -o fails before running" test $? -eq 2 -a ! -s "$tmp/out"
# ... for the native languages too, with -o or --export-plot before or after the files (the
# program ran, then exit 3), and with --build (exit 1); a link to a missing directory, for run.
if command -v cc >/dev/null; then
  printf '#include <stdio.h>\nint main(void){puts("ran");return 0;}\n' >"$tmp/x.c"
  for opts in "-o $tmp/no/p.json" "--export-plot $tmp/no/p.html"; do
    # shellcheck disable=SC2086
    "$cg" measure -q c "$tmp/x.c" $opts >"$tmp/out" 2>"$tmp/err"
    check "measure c x.c $opts: 2, nothing run" test $? -eq 2 -a ! -s "$tmp/out"
    check "measure c x.c $opts: says so" grep -q "; nothing was run$" "$tmp/err"
  done
fi
"$cg" measure -q --build true --instrument "$tmp" --export-plot "$tmp/no/p.html" -- /bin/echo ran \
  >"$tmp/out" 2>/dev/null
check "measure --build with an unwritable --export-plot: 2, nothing run" test $? -eq 2 -a ! -s "$tmp/out"
# --append to a FIFO or a device named .csv: refused for what it is (it said "needs a .csv
# output"), before anything runs, without waiting on the FIFO.
mkfifo "$tmp/ff.csv"
ln -s /dev/null "$tmp/null.csv"
for f in ff.csv null.csv; do
  timeout 20 "$cg" run -q --append -o "$tmp/$f" -- touch "$tmp/ran_ff" 2>"$tmp/err"
  check "run --append -o $f: 2, nothing run" test $? -eq 2 -a ! -e "$tmp/ran_ff"
  check "run --append -o $f: not a regular file" grep -q "is not a regular file; nothing was run$" "$tmp/err"
done
# A command the repeats stopped before is said not to have run (it said "0 runs in the
# statistics, after warm-up").
"$cg" run -w 1 -r 2 -- false --vs-- true 2>"$tmp/err"
check "run: the command after a failed one did not run" \
  grep -q "^codegreen run: true  (did not run: the repeats stopped before it)$" "$tmp/err"
ln -s "$tmp/no/t.json" "$tmp/dl.json"
"$cg" run -q -o "$tmp/dl.json" -- touch "$tmp/ran_dl" 2>"$tmp/err"
check "run -o a link to a missing directory: 2, nothing run" test $? -eq 2 -a ! -e "$tmp/ran_dl"
ln -s t2.json "$tmp/dl2.json"
"$cg" run -q -o "$tmp/dl2.json" -- true 2>/dev/null
check "run -o a dangling link in a directory that is there: written through it" test -s "$tmp/t2.json"

# --- a report that cannot be written keeps the command's status, and says so ---
mkdir "$tmp/gone"
"$cg" run -q -o "$tmp/gone/r.json" -- sh -c "rm -rf '$tmp/gone'; exit 3" 2>"$tmp/err"
check "run: the command's status when only the report failed" test $? -eq 3
check "run: stderr says the report was lost" grep -q "the report was not written" "$tmp/err"

# --- ... but a lost output after a command that exited 0 is exit 3, never the command's 0 (the
# message said "the exit status is the command's (0)" and the exit was 1, the gate's code) ---
"$cg" run -q -o - -- true >&- 2>"$tmp/err"
check "run -o - with stdout closed: exit 3" test $? -eq 3
check "run -o - with stdout closed: says exit 3, not the command's status" \
  grep -q "^codegreen run: the report was not written; exit 3 (the command exited 0)$" "$tmp/err"
check "run -o - with stdout closed: no claim of the command's status" \
  sh -c "! grep -q \"the exit status is the command's\" '$tmp/err'"
# measure python's meter opened its temp file on the closed fd 1, and the report went into it:
# a closed standard stream's number is never given to a file codegreen opens.
"$cg" measure -q python "$tmp/s.py" -o - >&- 2>"$tmp/err"
check "measure python -o - with stdout closed: exit 3" test $? -eq 3
check "measure python -o - with stdout closed: says so" \
  grep -q "^codegreen measure: - was not written; exit 3 (the program exited 0)$" "$tmp/err"
"$cg" run -q -- /usr/bin/python3 -c 'import os, sys; sys.stderr.write("fd1=%s\n" % os.path.exists("/proc/self/fd/1"))' >&- 2>"$tmp/err"
check "run with stdout closed: the command's stdout is closed too" grep -q "^fd1=False$" "$tmp/err"
if [ -w /dev/full ]; then
  "$cg" run -q -o /dev/full -- true 2>/dev/null
  check "run -o /dev/full: exit 3" test $? -eq 3
  "$cg" run -q --json -- true 2>/dev/full
  check "run --json to a full stderr: exit 3" test $? -eq 3
  "$cg" measure -q -o /dev/full "$tmp/s.py" >/dev/null 2>"$tmp/err"
  check "measure -o /dev/full: exit 3" test $? -eq 3
  check "measure: says so" grep -q "^codegreen measure: /dev/full was not written; exit 3 (the program exited 0)$" "$tmp/err"
fi

# --- a lost output's message states the status the run ends with (a failed push, the gate), and
# names what was lost (the plot is not "the report") ---
if [ -w /dev/full ]; then
  "$cg" run -q --push http://127.0.0.1:1 -o /dev/full -- true 2>"$tmp/err"
  check "run --push (failed) -o /dev/full: exit 1" test $? -eq 1
  check "run: the message states exit 1, the failed push's" \
    grep -q "^codegreen run: the report was not written; the exit status is the failed push's (1)$" "$tmp/err"
  T=0.01 "$cg" run -q -r 3 -o "$tmp/base2.json" -- sh -c 'sleep $T' 2>/dev/null
  T=0.3 "$cg" run -q -r 3 --baseline "$tmp/base2.json" --fail-if-regressed 5 -o /dev/full -- sh -c 'sleep $T' 2>"$tmp/err"
  check "run gate fired -o /dev/full: exit 1" test $? -eq 1
  check "run: the message states exit 1, the gate's" \
    grep -q "^codegreen run: the report was not written; the exit status is the regression gate's (1)$" "$tmp/err"
  ln -s /dev/full "$tmp/full.html"
  "$cg" run -q --export-plot "$tmp/full.html" -- true 2>"$tmp/err"
  check "run --export-plot to a full device: exit 3" test $? -eq 3
  check "run: the plot is named as lost, not the report" \
    grep -q "^codegreen run: the plot was not written; exit 3 (the command exited 0)$" "$tmp/err"
fi

# --- a device named as the output stays a device (root only: mknod) ---
if mknod -m 666 "$tmp/mynull" c 1 3 2>/dev/null; then
  "$cg" run -q -o "$tmp/mynull" -- true
  check "run -o device: exit 0" test $? -eq 0
  check "run -o device: still a character device" test "$(stat -c %F "$tmp/mynull")" = \
    "character special file"
  CODEGREEN_RESULT_FILE="$tmp/mynull" PYTHONPATH="$pydir" /usr/bin/python3 -c \
    "import codegreen_runtime"
  check "runtime result to a device: still a device" test "$(stat -c %F "$tmp/mynull")" = \
    "character special file"
fi

# --- signals reach the whole process group; the report is still written ---
for sig in TERM HUP USR1 PIPE; do
  rm -f "$tmp/sh.pid" "$tmp/r.json"
  num=$(signum "$sig")
  # A grandchild with a command line of its own, to be found after its parent shell died.
  nap="30.$$$num"
  "$cg" run -q -o "$tmp/r.json" -- sh -c "echo \$\$ >'$tmp/sh.pid'; sleep $nap; true" &
  pid=$!
  n=0
  while ! pgrep -f "^sleep $nap\$" >/dev/null && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
  kill -"$sig" $pid
  wait $pid
  status=$?
  check "SIG$sig: exit 128+$num" test $status -eq $((128 + num))
  check "SIG$sig: the report is written" py "
import json
r=json.load(open('$tmp/r.json'))
assert r['runs'][0]['exit_status']==128+$num, r['runs']
"
  # (a killed grandchild is reaped by init a moment later)
  n=0
  while pgrep -f "^sleep $nap\$" >/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
  check "SIG$sig: the grandchild (sleep under sh -c) is gone too" \
    sh -c "! pgrep -f '^sleep $nap\$' >/dev/null"
  for p in $(pgrep -f "^sleep $nap\$"); do kill "$p"; done # on failure, leave nothing behind
done

# --- an inherited SIG_IGN for SIGINT is kept for the command ---
sh -c "trap '' INT; exec '$cg' run -q -- sh -c 'kill -INT \$\$; echo survived'" >"$tmp/out" \
  2>/dev/null
check "ignored SIGINT stays ignored in the command" grep -q survived "$tmp/out"
cat >"$tmp/sigint.py" <<'PY'
import signal
print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
PY
sh -c "trap '' INT; exec '$cg' measure -q '$tmp/sigint.py'" >"$tmp/out" 2>/dev/null
check "measure: ignored SIGINT stays ignored in the program" grep -q True "$tmp/out"

# --- measure: SIGTERM/SIGHUP still give the per-function report; no temporary left ---
cat >"$tmp/wait.py" <<PY
import time
def spin():
    open("$tmp/ready", "w").close()
    time.sleep(30)
spin()
PY
for sig in TERM HUP; do
  rm -f "$tmp/ready" "$tmp/m.json"
  "$cg" measure -q -o "$tmp/m.json" "$tmp/wait.py" &
  pid=$!
  n=0
  while [ ! -e "$tmp/ready" ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done
  kill -"$sig" $pid
  wait $pid
  status=$?
  num=$(signum "$sig")
  check "measure SIG$sig: the program died of it (exit 128+$num)" test $status -eq $((128 + num))
  check "measure SIG$sig: the report lists spin with one call" py "
import json
r=json.load(open('$tmp/m.json'))
f=[f for f in r['functions'] if f['name']=='spin']
assert f and f[0]['calls']==1, r['functions']
"
  check "measure SIG$sig: the temporary directory is gone" \
    sh -c "! ls -d '$tmp/t'/codegreen-measure-* >/dev/null 2>&1"
done
# A broken pipe on --json: the temporary directory is removed all the same.
"$cg" measure -q --json "$tmp/s.py" 2>/dev/null | true
check "measure with a closed stdout: the temporary directory is gone" \
  sh -c "! ls -d '$tmp/t'/codegreen-measure-* >/dev/null 2>&1"

# --- a privileged process ignores the variables that load code or redirect reads ---
# A set-user-ID copy owned by nobody, started by root, runs with AT_SECURE set (as the
# CAP_PERFMON copy of setup-permissions --perf would); root only (chown).
mkdir "$tmp/priv"
cp "$cg" "$tmp/priv/cg"
# LeakSanitizer cannot run in a set-user-ID process (it dies at exit), so an ASan build skips
# this part; the plain build (and TSan's) runs it.
if [ "$(id -u)" = 0 ] && ! grep -aq __asan_init "$cg" && chown nobody "$tmp/priv/cg" &&
  chmod 4755 "$tmp/priv/cg"; then
  XDG_CONFIG_HOME=/nonexistent CODEGREEN_SYSFS_ROOT="$fixtures/intel-client" \
    CODEGREEN_NVML_LIB=/nonexistent/libnvidia-ml.so CODEGREEN_CONFIG=/etc/shadow \
    "$tmp/priv/cg" info --json >"$tmp/priv.json" 2>"$tmp/err"
  check "privileged info runs (CODEGREEN_CONFIG=/etc/shadow not read)" test $? -eq 0
  check "privileged info: the seams are ignored, and said so" py "
import json
d=json.load(open('$tmp/priv.json'))
e=d['environment']
assert e['privileged'] is True, e
assert e['ignored_environment'][:3]==['CODEGREEN_NVML_LIB','CODEGREEN_SYSFS_ROOT','CODEGREEN_CONFIG'], e
assert d['sysfs_root']=='/', d['sysfs_root']
assert d['config']['origin']=='built-in defaults', d['config']
"
  XDG_CONFIG_HOME=/nonexistent CODEGREEN_SYSFS_ROOT="$fixtures/intel-client" "$tmp/priv/cg" info \
    >"$tmp/out" 2>/dev/null
  check "privileged info (text) names what it ignored" \
    grep -q "ignored here: CODEGREEN_SYSFS_ROOT is set" "$tmp/out"
  XDG_CONFIG_HOME=/nonexistent CODEGREEN_SYSFS_ROOT="$fixtures/intel-client" "$cg" info --json \
    >"$tmp/plain.json"
  check "unprivileged info honours the seams" py "
import json
d=json.load(open('$tmp/plain.json'))
assert d['environment']=={'privileged': False, 'ignored_environment': []}, d['environment']
assert d['sysfs_root']=='$fixtures/intel-client', d['sysfs_root']
"
fi

# --- messages ---
"$cg" measure -q --python /bin/false "$tmp/s.py" 2>"$tmp/err"
check "measure --python /bin/false fails" test $? -ne 0
check "measure --python /bin/false says why" grep -q "/bin/false exited with status 1" "$tmp/err"

# --- bounded reads of sources ---
"$cg" analyze python /dev/zero 2>"$tmp/err" >/dev/null
check "analyze /dev/zero is refused" grep -q "not a regular file" "$tmp/err"
mkfifo "$tmp/fifo.py"
timeout 10 "$cg" analyze "$tmp/fifo.py" 2>"$tmp/err" >/dev/null
check "analyze FIFO is refused without waiting" grep -q "not a regular file" "$tmp/err"
truncate -s 65M "$tmp/big.py"
"$cg" analyze "$tmp/big.py" 2>"$tmp/err" >/dev/null
check "analyze past 64 MiB is refused" grep -q "larger than 64 MiB" "$tmp/err"
"$cg" plot "$tmp" -o "$tmp/p.html" 2>"$tmp/err"
check "plot DIR says it is a directory" grep -q "is a directory" "$tmp/err"

finish test_safety
